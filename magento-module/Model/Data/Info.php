<?php
/**
 * The answer of GET /V1/segbridge/info.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model\Data;

use Segbridge\SegmentBlock\Api\Data\InfoInterface;

class Info implements InfoInterface
{
    /** @var string */
    private $module;

    /** @var string */
    private $version;

    /** @var string[] */
    private $features;

    /** @var int */
    private $maxGroupAssignments;

    /** @var bool */
    private $productViewsRecorded;

    /**
     * @param string[] $features
     */
    public function __construct(
        string $module,
        string $version,
        array $features,
        int $maxGroupAssignments,
        bool $productViewsRecorded
    ) {
        $this->module = $module;
        $this->version = $version;
        $this->features = array_values($features);
        $this->maxGroupAssignments = $maxGroupAssignments;
        $this->productViewsRecorded = $productViewsRecorded;
    }

    public function getModule()
    {
        return $this->module;
    }

    public function getVersion()
    {
        return $this->version;
    }

    public function getFeatures()
    {
        return $this->features;
    }

    public function getMaxGroupAssignments()
    {
        return $this->maxGroupAssignments;
    }

    public function getProductViewsRecorded()
    {
        return $this->productViewsRecorded;
    }
}
