<?php
/**
 * Reads a page of customer activity rows (wishlist items, viewed products) by keyset and
 * adds each product's sku, name and price.
 *
 * Rows are ordered by (added_at, id), so a client pages without deep offsets: after the
 * last (u, i) seen it asks for added_at >= u AND (added_at > u OR id > i) with two filter
 * groups, the second holding two ORed filters. Timestamps are UTC: Magento's MySQL adapter
 * sets the session time zone to +00:00 on connect (framework/DB/Adapter/Pdo/Mysql.php:435
 * in 2.4.4, :519 in 2.4.8-p1).
 *
 * Product fields come from Magento's product collection
 * (Magento\Catalog\Model\ResourceModel\Product\Collection::addAttributeToSelect and
 * ::addIdFilter, module-catalog/Model/ResourceModel/Product/Collection.php:649/:755 in
 * 2.4.4, :683/:789 in 2.4.8-p1), one query per page, so store-view values and Adobe
 * Commerce's row_id linkage are Magento's business, not this module's.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model;

use Magento\Catalog\Model\ResourceModel\Product\CollectionFactory as ProductCollectionFactory;
use Magento\Framework\App\ResourceConnection;
use Segbridge\SegmentBlock\Model\Data\ActivityItem;
use Segbridge\SegmentBlock\Model\Data\ActivitySearchResults;

class ActivityReader
{
    /** @var ResourceConnection */
    private $resource;

    /** @var ProductCollectionFactory */
    private $productCollectionFactory;

    public function __construct(ResourceConnection $resource, ProductCollectionFactory $productCollectionFactory)
    {
        $this->resource = $resource;
        $this->productCollectionFactory = $productCollectionFactory;
    }

    /**
     * @param object|null $criteria a Magento\Framework\Api\SearchCriteriaInterface
     * @param string $from FROM clause, tables as table names before prefixing in {braces}
     * @param array<string, string> $columns id, customer_id, product_id, store_id, added_at => SQL expression
     * @param string $baseWhere always-true conditions of the source (e.g. only customers' rows)
     * @throws \Magento\Framework\Exception\InputException
     */
    public function read($criteria, string $from, array $columns, string $baseWhere): ActivitySearchResults
    {
        $connection = $this->resource->getConnection();
        $from = (string) preg_replace_callback('/\{(\w+)\}/', function (array $m) use ($connection): string {
            return $connection->quoteIdentifier($this->resource->getTableName($m[1]));
        }, $from);
        $sql = new SearchCriteriaSql([
            'id' => [$columns['id'], SearchCriteriaSql::INT],
            'customer_id' => [$columns['customer_id'], SearchCriteriaSql::INT],
            'product_id' => [$columns['product_id'], SearchCriteriaSql::INT],
            'store_id' => [$columns['store_id'], SearchCriteriaSql::INT],
            'added_at' => [$columns['added_at'], SearchCriteriaSql::DATETIME],
        ]);
        [$where, $bind] = $sql->where($criteria);
        [$limit, $offset] = $sql->page($criteria);
        $orderBy = $sql->orderBy($criteria, ['added_at', 'id']);
        $whereSql = ' WHERE ' . $baseWhere . ($where === '' ? '' : ' AND ' . $where);

        $total = (int) $connection->fetchAll("SELECT COUNT(*) AS n FROM $from$whereSql", $bind)[0]['n'];
        $select = [];
        foreach (['id', 'customer_id', 'product_id', 'store_id', 'added_at'] as $name) {
            $select[] = $columns[$name] . ' AS ' . $name;
        }
        $rows = $connection->fetchAll(
            'SELECT ' . implode(', ', $select) . " FROM $from$whereSql ORDER BY "
            . $orderBy . sprintf(' LIMIT %d OFFSET %d', $limit, $offset),
            $bind
        );

        $products = $this->products(array_values(array_unique(array_map(static function (array $row): int {
            return (int) $row['product_id'];
        }, $rows))));
        $items = [];
        foreach ($rows as $row) {
            $product = $products[(int) $row['product_id']] ?? null;
            $items[] = new ActivityItem([
                'id' => (int) $row['id'],
                'customer_id' => (int) $row['customer_id'],
                'product_id' => (int) $row['product_id'],
                'sku' => $product['sku'] ?? null,
                'name' => $product['name'] ?? null,
                'price' => $product['price'] ?? null,
                'added_at' => (string) $row['added_at'],
                'store_id' => $row['store_id'] === null ? null : (int) $row['store_id'],
            ]);
        }
        return new ActivitySearchResults($items, $total);
    }

    /**
     * @param int[] $ids
     * @return array<int, array{sku: ?string, name: ?string, price: ?float}>
     */
    private function products(array $ids): array
    {
        if ($ids === []) {
            return [];
        }
        $collection = $this->productCollectionFactory->create();
        $collection->addAttributeToSelect(['name', 'price'])->addIdFilter($ids);
        $products = [];
        foreach ($collection as $product) {
            $price = $product->getPrice();
            $products[(int) $product->getId()] = [
                'sku' => $product->getSku() === null ? null : (string) $product->getSku(),
                'name' => $product->getName() === null ? null : (string) $product->getName(),
                'price' => $price === null || $price === '' ? null : (float) $price,
            ];
        }
        return $products;
    }
}
