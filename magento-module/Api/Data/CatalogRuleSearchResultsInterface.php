<?php
/**
 * A page of catalog price rules.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api\Data;

interface CatalogRuleSearchResultsInterface
{
    /**
     * @return \Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface[]
     */
    public function getItems();

    /**
     * Rules matching the filters, over all pages.
     *
     * @return int
     */
    public function getTotalCount();
}
