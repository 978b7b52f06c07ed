<?php
/**
 * One requested group change: move a customer from one group to another, only if the
 * customer is still in the "from" group (compare-and-set).
 *
 * Setters are part of the contract: Magento's REST input processor fills request objects
 * through them.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api\Data;

interface GroupAssignmentInterface
{
    /**
     * @return int
     */
    public function getCustomerId();

    /**
     * @param int $customerId
     * @return $this
     */
    public function setCustomerId($customerId);

    /**
     * @return int
     */
    public function getFromGroupId();

    /**
     * @param int $groupId
     * @return $this
     */
    public function setFromGroupId($groupId);

    /**
     * @return int
     */
    public function getToGroupId();

    /**
     * @param int $groupId
     * @return $this
     */
    public function setToGroupId($groupId);
}
