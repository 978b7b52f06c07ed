<?php
/**
 * One wishlist item or viewed product.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model\Data;

use Segbridge\SegmentBlock\Api\Data\ActivityItemInterface;

class ActivityItem implements ActivityItemInterface
{
    /** @var array{id: int, customer_id: int, product_id: int, sku: ?string, name: ?string, price: ?float, added_at: string, store_id: ?int} */
    private $row;

    /**
     * @param array{id: int, customer_id: int, product_id: int, sku: ?string, name: ?string, price: ?float, added_at: string, store_id: ?int} $row
     */
    public function __construct(array $row)
    {
        $this->row = $row;
    }

    public function getId()
    {
        return $this->row['id'];
    }

    public function getCustomerId()
    {
        return $this->row['customer_id'];
    }

    public function getProductId()
    {
        return $this->row['product_id'];
    }

    public function getSku()
    {
        return $this->row['sku'];
    }

    public function getName()
    {
        return $this->row['name'];
    }

    public function getPrice()
    {
        return $this->row['price'];
    }

    public function getAddedAt()
    {
        return $this->row['added_at'];
    }

    public function getStoreId()
    {
        return $this->row['store_id'];
    }
}
