<?php
/**
 * Turns a REST searchCriteria into a parameterised WHERE, ORDER BY and LIMIT for one table.
 *
 * The module's list routes read Magento tables directly (there is no repository with a
 * getList for wishlist items or viewed products), so they accept searchCriteria the way core
 * lists do: filter groups are ANDed, the filters inside a group ORed
 * (Magento\Framework\Api\SearchCriteriaInterface::getFilterGroups, framework/Api/
 * SearchCriteriaInterface.php:22; Filter::getField/getValue/getConditionType,
 * framework/Api/Filter.php:32/:53/:74). Only the listed fields can be filtered or sorted,
 * values are bound, never spliced, and every bad field, condition or value is refused with
 * a message naming it. Plain PHP on purpose: the translation is unit-tested without Magento.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model;

use Magento\Framework\Exception\InputException;
use Magento\Framework\Phrase;

final class SearchCriteriaSql
{
    public const INT = 'int';
    public const TEXT = 'text';
    public const DATETIME = 'datetime';
    public const DATE = 'date';

    /** Magento's REST input limiter's own default maximum page size (2.4.7+). */
    public const MAX_PAGE_SIZE = 300;

    public const DEFAULT_PAGE_SIZE = 100;

    private const COMPARISONS = ['eq' => '=', 'neq' => '<>', 'gt' => '>', 'gteq' => '>=', 'lt' => '<', 'lteq' => '<='];

    /** @var array<string, array{0: string, 1: string}> field => [SQL expression, kind] */
    private $fields;

    /**
     * @param array<string, array{0: string, 1: string}> $fields field => [SQL expression, kind]
     */
    public function __construct(array $fields)
    {
        $this->fields = $fields;
    }

    /**
     * The WHERE conditions (without "WHERE"; '' for none) and their bound values.
     *
     * @param object|null $criteria a Magento\Framework\Api\SearchCriteriaInterface
     * @return array{0: string, 1: array<int, int|string>}
     * @throws InputException
     */
    public function where($criteria): array
    {
        $groups = [];
        $bind = [];
        foreach ($criteria === null ? [] : (array) $criteria->getFilterGroups() as $g => $group) {
            $alternatives = [];
            foreach ((array) $group->getFilters() as $f => $filter) {
                $alternatives[] = $this->condition($filter, "filter_groups[$g][filters][$f]", $bind);
            }
            if ($alternatives !== []) {
                $groups[] = '(' . implode(' OR ', $alternatives) . ')';
            }
        }
        return [implode(' AND ', $groups), $bind];
    }

    /**
     * ORDER BY for a keyset: the caller's sort orders over the allowed key fields, the
     * remaining key fields appended as tie-breakers in the same direction.
     *
     * @param object|null $criteria
     * @param string[] $keys fields that may be sorted on, in default order
     * @throws InputException
     */
    public function orderBy($criteria, array $keys): string
    {
        $order = [];
        $direction = 'ASC';
        foreach ($criteria === null ? [] : (array) $criteria->getSortOrders() as $i => $sortOrder) {
            $field = (string) $sortOrder->getField();
            if (!in_array($field, $keys, true)) {
                throw new InputException(new Phrase(
                    'sort_orders[%1][field] "%2" cannot be sorted on; use %3.',
                    [$i, $field, implode(' or ', $keys)]
                ));
            }
            $direction = strtoupper((string) ($sortOrder->getDirection() ?: 'ASC'));
            if ($direction !== 'ASC' && $direction !== 'DESC') {
                throw new InputException(new Phrase('sort_orders[%1][direction] must be ASC or DESC.', [$i]));
            }
            $order[$field] = $direction;
        }
        foreach ($keys as $key) {
            if (!isset($order[$key])) {
                $order[$key] = $direction;
            }
        }
        $parts = [];
        foreach ($order as $field => $dir) {
            $parts[] = $this->fields[$field][0] . ' ' . $dir;
        }
        return implode(', ', $parts);
    }

    /**
     * [limit, offset] from page_size (default 100, at most 300) and current_page (from 1).
     *
     * @param object|null $criteria
     * @return array{0: int, 1: int}
     * @throws InputException
     */
    public function page($criteria): array
    {
        $size = $criteria === null ? null : $criteria->getPageSize();
        $page = $criteria === null ? null : $criteria->getCurrentPage();
        $size = $size === null || $size === '' ? self::DEFAULT_PAGE_SIZE : $size;
        $page = $page === null || $page === '' ? 1 : $page;
        if (!is_numeric($size) || (int) $size != $size || (int) $size < 1 || (int) $size > self::MAX_PAGE_SIZE) {
            throw new InputException(new Phrase(
                'searchCriteria[pageSize] must be a whole number from 1 to %1.',
                [self::MAX_PAGE_SIZE]
            ));
        }
        if (!is_numeric($page) || (int) $page != $page || (int) $page < 1) {
            throw new InputException(new Phrase('searchCriteria[currentPage] must be a whole number from 1.'));
        }
        return [(int) $size, ((int) $page - 1) * (int) $size];
    }

    /**
     * @param object $filter a Magento\Framework\Api\Filter
     * @param array<int, int|string> $bind
     * @throws InputException
     */
    private function condition($filter, string $where, array &$bind): string
    {
        $field = (string) $filter->getField();
        if (!isset($this->fields[$field])) {
            throw new InputException(new Phrase(
                '%1: field "%2" cannot be filtered on; use one of %3.',
                [$where, $field, implode(', ', array_keys($this->fields))]
            ));
        }
        [$expression, $kind] = $this->fields[$field];
        $type = (string) ($filter->getConditionType() ?: 'eq');
        $value = $filter->getValue();
        if (isset(self::COMPARISONS[$type])) {
            $bind[] = $this->value($value, $kind, "$where ($field)");
            return $expression . ' ' . self::COMPARISONS[$type] . ' ?';
        }
        if ($type === 'in' || $type === 'nin') {
            $values = is_array($value) ? $value : preg_split('/\s*,\s*/', trim((string) $value), -1, PREG_SPLIT_NO_EMPTY);
            if ($values === [] || $values === false) {
                throw new InputException(new Phrase('%1 (%2): "%3" needs at least one value.', [$where, $field, $type]));
            }
            foreach ($values as $one) {
                $bind[] = $this->value($one, $kind, "$where ($field)");
            }
            return $expression . ($type === 'in' ? ' IN (' : ' NOT IN (') . implode(', ', array_fill(0, count($values), '?')) . ')';
        }
        if ($type === 'like' && $kind === self::TEXT) {
            $bind[] = (string) $value;
            return $expression . ' LIKE ?';
        }
        if ($type === 'null' || $type === 'notnull') {
            return $expression . ($type === 'null' ? ' IS NULL' : ' IS NOT NULL');
        }
        throw new InputException(new Phrase(
            '%1 (%2): condition_type "%3" is not supported; use eq, neq, gt, gteq, lt, lteq, in, nin%4, null or notnull.',
            [$where, $field, $type, $kind === self::TEXT ? ', like' : '']
        ));
    }

    /**
     * @param mixed $value
     * @return int|string
     * @throws InputException
     */
    private function value($value, string $kind, string $where)
    {
        $text = is_scalar($value) ? trim((string) $value) : '';
        switch ($kind) {
            case self::INT:
                if (preg_match('/^-?\d{1,18}$/D', $text)) {
                    return (int) $text;
                }
                break;
            case self::DATETIME:
                if (preg_match('/^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$/D', $text)) {
                    return strlen($text) === 10 ? $text . ' 00:00:00' : $text;
                }
                break;
            case self::DATE:
                if (preg_match('/^\d{4}-\d{2}-\d{2}$/D', $text)) {
                    return $text;
                }
                break;
            default:
                if (is_scalar($value)) {
                    return (string) $value;
                }
        }
        $expected = [
            self::INT => 'a whole number',
            self::DATETIME => 'a date "YYYY-MM-DD" or date and time "YYYY-MM-DD HH:MM:SS" (UTC)',
            self::DATE => 'a date "YYYY-MM-DD"',
        ][$kind] ?? 'text';
        throw new InputException(new Phrase(
            '%1: value %2 is not %3.',
            [$where, is_scalar($value) ? '"' . $value . '"' : gettype($value), $expected]
        ));
    }
}
