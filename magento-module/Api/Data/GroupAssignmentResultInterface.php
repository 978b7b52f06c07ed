<?php
/**
 * The answer of POST /V1/segbridge/groupAssignments: one outcome per request item, in
 * request order, plus counts and warnings about side work that did not succeed.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api\Data;

interface GroupAssignmentResultInterface
{
    /**
     * @return \Segbridge\SegmentBlock\Api\Data\GroupAssignmentOutcomeInterface[]
     */
    public function getResults();

    /**
     * @return int
     */
    public function getApplied();

    /**
     * @return int
     */
    public function getChangedMeanwhile();

    /**
     * @return int
     */
    public function getNotFound();

    /**
     * Side work that failed after the group changes were committed (the customer grid
     * reindex); the changes themselves stand.
     *
     * @return string[]
     */
    public function getWarnings();
}
