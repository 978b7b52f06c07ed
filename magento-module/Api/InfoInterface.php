<?php
/**
 * GET /V1/segbridge/info: lets segbridge detect the module and its parts.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api;

interface InfoInterface
{
    /**
     * @return \Segbridge\SegmentBlock\Api\Data\InfoInterface
     */
    public function get();
}
