<?php
/**
 * GET /V1/segbridge/productViews?searchCriteria...: products viewed by logged-in customers,
 * from Magento's report_viewed_product_index table.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api;

interface ProductViewsInterface
{
    /**
     * Filterable on id, customer_id, product_id, store_id, added_at; ordered by (added_at, id).
     *
     * @param \Magento\Framework\Api\SearchCriteriaInterface $searchCriteria
     * @return \Segbridge\SegmentBlock\Api\Data\ActivitySearchResultsInterface
     * @throws \Magento\Framework\Exception\InputException
     */
    public function getList(\Magento\Framework\Api\SearchCriteriaInterface $searchCriteria);
}
