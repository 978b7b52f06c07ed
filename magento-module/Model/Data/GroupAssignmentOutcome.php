<?php
/**
 * One line of the group assignments answer.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model\Data;

use Segbridge\SegmentBlock\Api\Data\GroupAssignmentOutcomeInterface;

class GroupAssignmentOutcome implements GroupAssignmentOutcomeInterface
{
    /** @var int */
    private $customerId;

    /** @var string */
    private $status;

    /** @var int|null */
    private $groupId;

    public function __construct(int $customerId, string $status, ?int $groupId)
    {
        $this->customerId = $customerId;
        $this->status = $status;
        $this->groupId = $groupId;
    }

    public function getCustomerId()
    {
        return $this->customerId;
    }

    public function getStatus()
    {
        return $this->status;
    }

    public function getGroupId()
    {
        return $this->groupId;
    }
}
