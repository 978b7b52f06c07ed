<?php
/**
 * GET /V1/segbridge/wishlistItems and /V1/segbridge/productViews against real SQL (SQLite
 * standing in for MySQL): which rows, in which order, keyset paging that neither loses nor
 * repeats a row, product fields, and searchCriteria errors that name the culprit.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Stubbed;

use Magento\Catalog\Model\ResourceModel\Product\CollectionFactory;
use Magento\Framework\Api\SearchCriteria;
use Magento\Framework\App\ResourceConnection;
use Magento\Framework\Exception\InputException;
use PHPUnit\Framework\TestCase;
use Segbridge\SegmentBlock\Api\Data\ActivityItemInterface;
use Segbridge\SegmentBlock\Model\ActivityReader;
use Segbridge\SegmentBlock\Model\ProductViews;
use Segbridge\SegmentBlock\Model\WishlistItems;

final class ActivityListsTest extends TestCase
{
    /** @var SqliteConnection */
    private $db;

    /** @var CollectionFactory */
    private $products;

    public static function setUpBeforeClass(): void
    {
        if (!defined('SEGBRIDGE_MAGENTO_STAND_INS')
            && class_exists(\Magento\Framework\App\ResourceConnection::class, true)
        ) {
            self::markTestSkipped('real Magento classes are present; the stand-ins are for Magento-free runs');
        }
        require_once __DIR__ . '/ApiStandIns.php';
    }

    protected function setUp(): void
    {
        $this->db = new SqliteConnection();
        $this->db->exec('CREATE TABLE wishlist (wishlist_id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL)');
        $this->db->exec('CREATE TABLE wishlist_item (wishlist_item_id INTEGER PRIMARY KEY, wishlist_id INTEGER NOT NULL,
            product_id INTEGER NOT NULL, store_id INTEGER, added_at TEXT)');
        $this->db->exec('CREATE TABLE report_viewed_product_index (index_id INTEGER PRIMARY KEY, visitor_id INTEGER,
            customer_id INTEGER, product_id INTEGER NOT NULL, store_id INTEGER, added_at TEXT NOT NULL)');
        $this->db->exec('INSERT INTO wishlist VALUES (1, 10), (2, 11)');
        $this->db->exec("INSERT INTO wishlist_item VALUES
            (1, 1, 100, 1, '2026-11-02 08:00:00'),
            (2, 2, 101, 1, '2026-11-01 09:30:00'),
            (3, 1, 102, 2, '2026-11-02 08:00:00'),
            (4, 2, 100, 1, NULL),
            (5, 1, 999, 1, '2026-11-03 00:00:00')");
        $this->db->exec("INSERT INTO report_viewed_product_index VALUES
            (1, 500, NULL, 100, 1, '2026-11-01 10:00:00'),
            (2, NULL, 10, 101, 1, '2026-11-05 10:00:00'),
            (3, NULL, 11, 100, 1, '2026-10-01 10:00:00'),
            (4, NULL, 12, 102, 1, '2026-11-06 12:00:00')");
        $this->products = new CollectionFactory();
        $this->products->products = [
            100 => ['sku' => 'MB01', 'name' => 'Joust Duffle Bag', 'price' => '34.000000'],
            101 => ['sku' => 'MB02', 'name' => 'Strive Shoulder Pack', 'price' => '32.000000'],
            102 => ['sku' => 'MB03', 'name' => null, 'price' => null],
        ];
        CollectionFactory::$loads = 0;
    }

    private function reader(): ActivityReader
    {
        return new ActivityReader(new ResourceConnection($this->db), $this->products);
    }

    /** @return array<int, array<string, mixed>> */
    private static function rows($results): array
    {
        return array_map(static function (ActivityItemInterface $i): array {
            return [
                'id' => $i->getId(), 'customer_id' => $i->getCustomerId(), 'product_id' => $i->getProductId(),
                'sku' => $i->getSku(), 'name' => $i->getName(), 'price' => $i->getPrice(),
                'added_at' => $i->getAddedAt(), 'store_id' => $i->getStoreId(),
            ];
        }, $results->getItems());
    }

    public function testWishlistItemsCarryTheCustomerAndProductInKeysetOrder(): void
    {
        $page = (new WishlistItems($this->reader()))->getList(SearchCriteria::of());

        self::assertSame(4, $page->getTotalCount());
        self::assertSame([
            ['id' => 2, 'customer_id' => 11, 'product_id' => 101, 'sku' => 'MB02', 'name' => 'Strive Shoulder Pack',
                'price' => 32.0, 'added_at' => '2026-11-01 09:30:00', 'store_id' => 1],
            ['id' => 1, 'customer_id' => 10, 'product_id' => 100, 'sku' => 'MB01', 'name' => 'Joust Duffle Bag',
                'price' => 34.0, 'added_at' => '2026-11-02 08:00:00', 'store_id' => 1],
            ['id' => 3, 'customer_id' => 10, 'product_id' => 102, 'sku' => 'MB03', 'name' => null,
                'price' => null, 'added_at' => '2026-11-02 08:00:00', 'store_id' => 2],
            ['id' => 5, 'customer_id' => 10, 'product_id' => 999, 'sku' => null, 'name' => null,
                'price' => null, 'added_at' => '2026-11-03 00:00:00', 'store_id' => 1],
        ], self::rows($page));
        self::assertSame(1, CollectionFactory::$loads, 'one product query per page');
    }

    public function testKeysetPagingSeesEveryRowOnceEvenWithTiesAndARowAddedMidWalk(): void
    {
        $this->db->exec("INSERT INTO wishlist_item VALUES
            (6, 2, 101, 1, '2026-11-02 08:00:00'), (7, 2, 102, 1, '2026-11-02 08:00:00')");
        $service = new WishlistItems($this->reader());
        $seen = [];
        $last = null;
        for ($pages = 0; $pages < 10; $pages++) {
            $groups = [];
            if ($last !== null) {
                $groups = [
                    [['added_at', $last[0], 'gteq']],
                    [['added_at', $last[0], 'gt'], ['id', (string) $last[1], 'gt']],
                ];
            }
            $items = $service->getList(SearchCriteria::of($groups, [], 2))->getItems();
            if ($items === []) {
                break;
            }
            foreach ($items as $item) {
                $seen[] = $item->getId();
                $last = [$item->getAddedAt(), $item->getId()];
            }
            if ($pages === 1) {
                $this->db->exec("INSERT INTO wishlist_item VALUES (8, 1, 100, 1, '2026-11-04 00:00:00')");
            }
        }
        self::assertSame([2, 1, 3, 6, 7, 5, 8], $seen);
    }

    public function testProductViewsAreCustomersOnlyAndFilterByPeriodAndCustomers(): void
    {
        $views = new ProductViews($this->reader());

        $all = $views->getList(SearchCriteria::of());
        self::assertSame([3, 2, 4], array_column(self::rows($all), 'id'), 'the guest row 1 is not listed');

        $recent = $views->getList(SearchCriteria::of([
            [['added_at', '2026-11-01', 'gteq']],
            [['customer_id', '10,12', 'in']],
        ], [['added_at', 'DESC']]));
        self::assertSame([[4, 12, 'MB03'], [2, 10, 'MB02']], array_map(static function (array $r): array {
            return [$r['id'], $r['customer_id'], $r['sku']];
        }, self::rows($recent)));
        self::assertSame(2, $recent->getTotalCount());
    }

    public function testPagesByOffsetToo(): void
    {
        $page = (new ProductViews($this->reader()))->getList(SearchCriteria::of([], [], 2, 2));
        self::assertSame([4], array_column(self::rows($page), 'id'));
        self::assertSame(3, $page->getTotalCount());
    }

    public function testAnEmptyPageAsksNoProducts(): void
    {
        $page = (new ProductViews($this->reader()))->getList(SearchCriteria::of([[['customer_id', '77']]]));
        self::assertSame([], $page->getItems());
        self::assertSame(0, CollectionFactory::$loads);
    }

    /**
     * Built inside the test: data providers run before the stand-ins are loaded.
     *
     * @return array<string, array{0: array<int, mixed>, 1: string}>
     */
    public function badCriteria(): array
    {
        return [
            'unknown field' => [[[[['sku', 'MB01']]]],
                'filter_groups[0][filters][0]: field "sku" cannot be filtered on; use one of id, customer_id, product_id, store_id, added_at.'],
            'bad time' => [[[[['customer_id', '10']], [['added_at', 'yesterday', 'gt']]]],
                'filter_groups[1][filters][0] (added_at): value "yesterday" is not a date "YYYY-MM-DD" or date and time'],
            'bad id' => [[[[['customer_id', '1 OR 1=1']]]],
                'filter_groups[0][filters][0] (customer_id): value "1 OR 1=1" is not a whole number.'],
            'like on a number' => [[[[['product_id', '1%', 'like']]]],
                'condition_type "like" is not supported; use eq, neq, gt, gteq, lt, lteq, in, nin, null or notnull.'],
            'empty in' => [[[[['customer_id', ' ', 'in']]]], '"in" needs at least one value.'],
            'page too big' => [[[], [], 301], 'searchCriteria[pageSize] must be a whole number from 1 to 300.'],
            'page zero' => [[[], [], 10, 0], 'searchCriteria[currentPage] must be a whole number from 1.'],
            'sort by product' => [[[], [['product_id', 'ASC']]],
                'sort_orders[0][field] "product_id" cannot be sorted on; use added_at or id.'],
            'bad direction' => [[[], [['id', 'UP']]], 'sort_orders[0][direction] must be ASC or DESC.'],
        ];
    }

    /**
     * @dataProvider badCriteria
     * @param array<int, mixed> $criteria arguments of SearchCriteria::of
     */
    public function testBadSearchCriteriaAreRefusedNamingTheCulprit(array $criteria, string $message): void
    {
        try {
            (new WishlistItems($this->reader()))->getList(SearchCriteria::of(...$criteria));
            self::fail('expected an InputException');
        } catch (InputException $e) {
            self::assertStringContainsString($message, $e->getMessage());
        }
        self::assertSame([], $this->db->log, 'no query ran');
    }

    public function testValuesAreBoundNeverSpliced(): void
    {
        (new WishlistItems($this->reader()))->getList(SearchCriteria::of([[['added_at', '2026-11-02', 'lt']]]));
        foreach ($this->db->log as $sql) {
            self::assertStringNotContainsString('2026-11-02', $sql);
        }
        self::assertStringContainsString('`wishlist_item` AS wi INNER JOIN `wishlist` AS w', $this->db->log[0]);
    }
}
