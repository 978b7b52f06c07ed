<?php
/**
 * One wishlist item or one viewed product of a customer.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api\Data;

interface ActivityItemInterface
{
    /**
     * wishlist_item.wishlist_item_id, or report_viewed_product_index.index_id: the keyset's
     * tie-breaker after added_at.
     *
     * @return int
     */
    public function getId();

    /**
     * @return int
     */
    public function getCustomerId();

    /**
     * @return int
     */
    public function getProductId();

    /**
     * Null when the product no longer exists.
     *
     * @return string|null
     */
    public function getSku();

    /**
     * As the store view the request addresses sees it (admin values under /rest/all).
     *
     * @return string|null
     */
    public function getName();

    /**
     * @return float|null
     */
    public function getPrice();

    /**
     * "YYYY-MM-DD HH:MM:SS", UTC: when the item was added, or the product last viewed.
     *
     * @return string
     */
    public function getAddedAt();

    /**
     * @return int|null
     */
    public function getStoreId();
}
