<?php
/**
 * POST /V1/segbridge/groupAssignments: many customer group changes in one request.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api;

interface GroupAssignmentManagementInterface
{
    /** Most assignments one request may carry. */
    public const MAX_ASSIGNMENTS = 1000;

    /**
     * Compare-and-set group changes: each customer moves only if still in from_group_id.
     *
     * Writes customer_entity.group_id directly (one UPDATE per target group), so Magento's
     * customer save events do not run for these changes.
     *
     * @param \Segbridge\SegmentBlock\Api\Data\GroupAssignmentInterface[] $assignments
     * @return \Segbridge\SegmentBlock\Api\Data\GroupAssignmentResultInterface
     * @throws \Magento\Framework\Exception\InputException
     */
    public function assign(array $assignments);
}
