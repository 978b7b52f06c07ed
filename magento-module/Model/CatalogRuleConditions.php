<?php
/**
 * A catalog rule's conditions as a SKU list, in the array form Magento's rule conditions
 * load from and serialize to.
 *
 * The form is Magento\Rule\Model\Condition\Combine::asArray (module-rule/Model/Condition/
 * Combine.php:189-199: type, attribute, operator, value, is_value_processed, aggregator,
 * conditions) around AbstractCondition::asArray (AbstractCondition.php:164-173). The
 * operator "()" is "is one of"; Magento splits its value on commas and semicolons
 * (AbstractCondition::getValueParsed, :386-394), so a SKU holding either cannot be listed.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model;

final class CatalogRuleConditions
{
    public const COMBINE = 'Magento\\CatalogRule\\Model\\Rule\\Condition\\Combine';
    public const PRODUCT = 'Magento\\CatalogRule\\Model\\Rule\\Condition\\Product';

    /**
     * @param string[] $skus
     * @return array<string, mixed>
     */
    public function fromSkus(array $skus): array
    {
        $root = [
            'type' => self::COMBINE,
            'attribute' => null,
            'operator' => null,
            'value' => '1',
            'is_value_processed' => null,
            'aggregator' => 'all',
        ];
        if ($skus !== []) {
            $root['conditions'] = [[
                'type' => self::PRODUCT,
                'attribute' => 'sku',
                'operator' => '()',
                'value' => implode(', ', $skus),
                'is_value_processed' => false,
            ]];
        }
        return $root;
    }

    /**
     * The SKU list, [] for "every product", or null when the conditions are anything else.
     *
     * @param array<string, mixed> $conditions
     * @return string[]|null
     */
    public function toSkus(array $conditions): ?array
    {
        $children = $conditions['conditions'] ?? [];
        if ($children === [] || $children === null) {
            return [];
        }
        if (count($children) !== 1 || ($conditions['aggregator'] ?? 'all') !== 'all'
            || (string) ($conditions['value'] ?? '1') !== '1') {
            return null;
        }
        $only = $children[0];
        if (($only['type'] ?? '') !== self::PRODUCT || ($only['attribute'] ?? '') !== 'sku'
            || ($only['operator'] ?? '') !== '()' || !empty($only['conditions'])) {
            return null;
        }
        $value = $only['value'] ?? '';
        $skus = is_array($value) ? $value : preg_split('#\s*[,;]\s*#', trim((string) $value), -1, PREG_SPLIT_NO_EMPTY);
        return array_values(array_map('strval', $skus ?: []));
    }
}
