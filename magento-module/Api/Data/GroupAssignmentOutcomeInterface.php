<?php
/**
 * What happened to one requested group change.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api\Data;

interface GroupAssignmentOutcomeInterface
{
    /** The customer was in from_group_id and is now in to_group_id. */
    public const APPLIED = 'applied';

    /** The customer was no longer in from_group_id; nothing written; group_id is the group found. */
    public const CHANGED_MEANWHILE = 'changed_meanwhile';

    /** No customer has this id; nothing written. */
    public const NOT_FOUND = 'not_found';

    /**
     * @return int
     */
    public function getCustomerId();

    /**
     * applied, changed_meanwhile or not_found.
     *
     * @return string
     */
    public function getStatus();

    /**
     * The customer's group after the request: to_group_id when applied, the group found when
     * changed_meanwhile, null when not_found.
     *
     * @return int|null
     */
    public function getGroupId();
}
