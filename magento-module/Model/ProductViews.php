<?php
/**
 * GET /V1/segbridge/productViews: Magento's "recently viewed" report index for logged-in
 * customers (report_viewed_product_index, module-reports etc/db_schema.xml:54-66), one row
 * per customer and product (unique customer_id, product_id); a repeat view rewrites the
 * row's columns, added_at included, with INSERT ... ON DUPLICATE KEY UPDATE and keeps its id
 * (Reports ResourceModel Helper::mergeVisitorProductIndex, Model/ResourceModel/Helper.php:34-36
 * in 2.4.4, :47-49 in 2.4.8-p1), so clients treat rows as upserts by id. Guests' rows
 * (customer_id null) are not listed; a guest row that Magento attaches to the customer at
 * login keeps its view time (Reports ResourceModel Product\Index\AbstractIndex::
 * updateCustomerFromVisitor), so incremental reads need an overlap. The rows live only as
 * long as Magento's report tables keep them.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model;

use Segbridge\SegmentBlock\Api\ProductViewsInterface;

class ProductViews implements ProductViewsInterface
{
    /** @var ActivityReader */
    private $reader;

    public function __construct(ActivityReader $reader)
    {
        $this->reader = $reader;
    }

    public function getList(\Magento\Framework\Api\SearchCriteriaInterface $searchCriteria)
    {
        return $this->reader->read(
            $searchCriteria,
            '{report_viewed_product_index} AS v',
            [
                'id' => 'v.index_id',
                'customer_id' => 'v.customer_id',
                'product_id' => 'v.product_id',
                'store_id' => 'v.store_id',
                'added_at' => 'v.added_at',
            ],
            'v.customer_id IS NOT NULL'
        );
    }
}
