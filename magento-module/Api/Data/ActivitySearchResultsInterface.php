<?php
/**
 * A page of wishlist items or viewed products.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api\Data;

interface ActivitySearchResultsInterface
{
    /**
     * @return \Segbridge\SegmentBlock\Api\Data\ActivityItemInterface[]
     */
    public function getItems();

    /**
     * Rows matching the filters, over all pages.
     *
     * @return int
     */
    public function getTotalCount();
}
