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

    /**
     * @param string[] $features
     */
    public function __construct(string $module, string $version, array $features, int $maxGroupAssignments)
    {
        $this->module = $module;
        $this->version = $version;
        $this->features = array_values($features);
        $this->maxGroupAssignments = $maxGroupAssignments;
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
}
