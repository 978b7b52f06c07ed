<?php
/**
 * A page of wishlist items or viewed products.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model\Data;

use Segbridge\SegmentBlock\Api\Data\ActivityItemInterface;
use Segbridge\SegmentBlock\Api\Data\ActivitySearchResultsInterface;

class ActivitySearchResults implements ActivitySearchResultsInterface
{
    /** @var ActivityItemInterface[] */
    private $items;

    /** @var int */
    private $totalCount;

    /**
     * @param ActivityItemInterface[] $items
     */
    public function __construct(array $items = [], int $totalCount = 0)
    {
        $this->items = array_values($items);
        $this->totalCount = $totalCount;
    }

    public function getItems()
    {
        return $this->items;
    }

    public function getTotalCount()
    {
        return $this->totalCount;
    }
}
