<?php
/**
 * GET /V1/segbridge/wishlistItems: wishlist_item joined to its wishlist for the customer
 * (module-wishlist etc/db_schema.xml: wishlist.customer_id, wishlist_item.added_at, which
 * Magento\Wishlist\Model\Item::beforeSave stamps with the GMT time when unset, Item.php:328-342).
 * Items without added_at (only possible from outside Magento) are not listed.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model;

use Segbridge\SegmentBlock\Api\WishlistItemsInterface;

class WishlistItems implements WishlistItemsInterface
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
            '{wishlist_item} AS wi INNER JOIN {wishlist} AS w ON w.wishlist_id = wi.wishlist_id',
            [
                'id' => 'wi.wishlist_item_id',
                'customer_id' => 'w.customer_id',
                'product_id' => 'wi.product_id',
                'store_id' => 'wi.store_id',
                'added_at' => 'wi.added_at',
            ],
            'wi.added_at IS NOT NULL'
        );
    }
}
