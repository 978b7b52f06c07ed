<?php
/**
 * GET /V1/segbridge/wishlistItems?searchCriteria...: customers' wishlist items, from
 * Magento's wishlist and wishlist_item tables.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api;

interface WishlistItemsInterface
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
