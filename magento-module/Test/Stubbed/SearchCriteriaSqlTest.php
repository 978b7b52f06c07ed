<?php
/**
 * searchCriteria to SQL: filter groups ANDed, filters ORed, values bound, keyset order.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Stubbed;

use Magento\Framework\Api\SearchCriteria;
use Magento\Framework\Exception\InputException;
use PHPUnit\Framework\TestCase;
use Segbridge\SegmentBlock\Model\SearchCriteriaSql;

final class SearchCriteriaSqlTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        if (!defined('SEGBRIDGE_MAGENTO_STAND_INS')
            && class_exists(\Magento\Framework\App\ResourceConnection::class, true)
        ) {
            self::markTestSkipped('real Magento classes are present; the stand-ins are for Magento-free runs');
        }
        require_once __DIR__ . '/ApiStandIns.php';
    }

    private static function sql(): SearchCriteriaSql
    {
        return new SearchCriteriaSql([
            'id' => ['t.id', SearchCriteriaSql::INT],
            'added_at' => ['t.added_at', SearchCriteriaSql::DATETIME],
            'name' => ['t.name', SearchCriteriaSql::TEXT],
            'day' => ['t.day', SearchCriteriaSql::DATE],
        ]);
    }

    public function testTheKeysetFilterOfTheReadme(): void
    {
        [$where, $bind] = self::sql()->where(SearchCriteria::of([
            [['added_at', '2026-11-02 08:00:00', 'gteq']],
            [['added_at', '2026-11-02 08:00:00', 'gt'], ['id', '3', 'gt']],
        ]));
        self::assertSame('(t.added_at >= ?) AND (t.added_at > ? OR t.id > ?)', $where);
        self::assertSame(['2026-11-02 08:00:00', '2026-11-02 08:00:00', 3], $bind);
    }

    public function testEveryCondition(): void
    {
        [$where, $bind] = self::sql()->where(SearchCriteria::of([
            [['id', '1']],
            [['id', '2', 'neq']],
            [['id', '3', 'lt'], ['id', '4', 'lteq']],
            [['id', '5, 6', 'in']],
            [['id', ['7', 8], 'nin']],
            [['name', 'segbridge:%', 'like']],
            [['added_at', '2026-01-01', 'gteq']],
            [['day', null, 'null'], ['day', null, 'notnull']],
        ]));
        self::assertSame(
            '(t.id = ?) AND (t.id <> ?) AND (t.id < ? OR t.id <= ?) AND (t.id IN (?, ?)) AND (t.id NOT IN (?, ?))'
            . ' AND (t.name LIKE ?) AND (t.added_at >= ?) AND (t.day IS NULL OR t.day IS NOT NULL)',
            $where
        );
        self::assertSame([1, 2, 3, 4, 5, 6, 7, 8, 'segbridge:%', '2026-01-01 00:00:00'], $bind);
    }

    public function testNoCriteriaMeansNoConditionsDefaultPageAndAscendingKeys(): void
    {
        self::assertSame(['', []], self::sql()->where(SearchCriteria::of()));
        self::assertSame([100, 0], self::sql()->page(SearchCriteria::of()));
        self::assertSame([300, 600], self::sql()->page(SearchCriteria::of([], [], 300, 3)));
        self::assertSame('t.added_at ASC, t.id ASC', self::sql()->orderBy(SearchCriteria::of(), ['added_at', 'id']));
        self::assertSame(
            't.id DESC, t.added_at DESC',
            self::sql()->orderBy(SearchCriteria::of([], [['id', 'desc']]), ['added_at', 'id'])
        );
    }

    public function testADateFieldTakesOnlyADate(): void
    {
        $this->expectException(InputException::class);
        $this->expectExceptionMessage('filter_groups[0][filters][0] (day): value "2026-01-01 10:00:00" is not a date "YYYY-MM-DD".');
        self::sql()->where(SearchCriteria::of([[['day', '2026-01-01 10:00:00', 'lt']]]));
    }
}
