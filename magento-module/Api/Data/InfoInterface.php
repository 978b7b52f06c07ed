<?php
/**
 * What GET /V1/segbridge/info answers: the module, its version and which parts are on.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api\Data;

interface InfoInterface
{
    /**
     * @return string
     */
    public function getModule();

    /**
     * @return string
     */
    public function getVersion();

    /**
     * Parts this store can serve: group_assignments, session_refresh, catalog_rules,
     * wishlist_items, product_views (the last three only while the Magento module they
     * read from is enabled).
     *
     * @return string[]
     */
    public function getFeatures();

    /**
     * @return int
     */
    public function getMaxGroupAssignments();

    /**
     * Whether Magento is recording product views at all: Stores > Configuration > General >
     * Reports > General Options > Enable Reports (off by default) and its Product View
     * option. When false, productViews answers only what was recorded earlier.
     *
     * @return bool
     */
    public function getProductViewsRecorded();
}
