<?php
/**
 * The group assignments answer: outcomes in request order, counts derived from them.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model\Data;

use Segbridge\SegmentBlock\Api\Data\GroupAssignmentOutcomeInterface;
use Segbridge\SegmentBlock\Api\Data\GroupAssignmentResultInterface;

class GroupAssignmentResult implements GroupAssignmentResultInterface
{
    /** @var GroupAssignmentOutcomeInterface[] */
    private $results;

    /** @var string[] */
    private $warnings;

    /**
     * @param GroupAssignmentOutcomeInterface[] $results
     * @param string[] $warnings
     */
    public function __construct(array $results = [], array $warnings = [])
    {
        $this->results = array_values($results);
        $this->warnings = array_values($warnings);
    }

    public function getResults()
    {
        return $this->results;
    }

    public function getApplied()
    {
        return $this->count(GroupAssignmentOutcomeInterface::APPLIED);
    }

    public function getChangedMeanwhile()
    {
        return $this->count(GroupAssignmentOutcomeInterface::CHANGED_MEANWHILE);
    }

    public function getNotFound()
    {
        return $this->count(GroupAssignmentOutcomeInterface::NOT_FOUND);
    }

    public function getWarnings()
    {
        return $this->warnings;
    }

    private function count(string $status): int
    {
        $n = 0;
        foreach ($this->results as $outcome) {
            if ($outcome->getStatus() === $status) {
                $n++;
            }
        }
        return $n;
    }
}
