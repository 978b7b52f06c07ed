<?php
/**
 * Request item of POST /V1/segbridge/groupAssignments (filled by Magento's REST input
 * processor through the setters).
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model\Data;

use Segbridge\SegmentBlock\Api\Data\GroupAssignmentInterface;

class GroupAssignment implements GroupAssignmentInterface
{
    /** @var mixed */
    private $customerId;

    /** @var mixed */
    private $fromGroupId;

    /** @var mixed */
    private $toGroupId;

    /**
     * @param mixed $customerId
     * @param mixed $fromGroupId
     * @param mixed $toGroupId
     */
    public function __construct($customerId = null, $fromGroupId = null, $toGroupId = null)
    {
        $this->customerId = $customerId;
        $this->fromGroupId = $fromGroupId;
        $this->toGroupId = $toGroupId;
    }

    public function getCustomerId()
    {
        return $this->customerId;
    }

    public function setCustomerId($customerId)
    {
        $this->customerId = $customerId;
        return $this;
    }

    public function getFromGroupId()
    {
        return $this->fromGroupId;
    }

    public function setFromGroupId($groupId)
    {
        $this->fromGroupId = $groupId;
        return $this;
    }

    public function getToGroupId()
    {
        return $this->toGroupId;
    }

    public function setToGroupId($groupId)
    {
        $this->toGroupId = $groupId;
        return $this;
    }
}
