<?php
/**
 * A page of catalog price rules.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model\Data;

use Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface;
use Segbridge\SegmentBlock\Api\Data\CatalogRuleSearchResultsInterface;

class CatalogRuleSearchResults implements CatalogRuleSearchResultsInterface
{
    /** @var CatalogRuleInterface[] */
    private $items;

    /** @var int */
    private $totalCount;

    /**
     * @param CatalogRuleInterface[] $items
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
