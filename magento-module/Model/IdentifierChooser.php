<?php
/**
 * Which CMS block a "Segment block" widget shows.
 *
 * Kept free of Magento classes on purpose: the whole decision (identifier format, slot
 * validation, fallback) is plain PHP, unit-tested without a Magento install, and the widget
 * block around it only supplies the customer group, the store's blocks and the rendering.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model;

use InvalidArgumentException;

final class IdentifierChooser
{
    /** Show the block named after the slot when the group has none of its own. */
    public const FALLBACK_DEFAULT = 'default';

    /** Show nothing when the group has no block of its own. */
    public const FALLBACK_NONE = 'none';

    /** Between the slot and the group id, as segbridge writes it: "<slot>--group-<id>". */
    public const GROUP_MARKER = '--group-';

    /** Magento's NOT LOGGED IN customer group: an ordinary group id here. */
    public const NOT_LOGGED_IN_GROUP_ID = 0;

    /**
     * cms_block.identifier is varchar(255); "--group-" (8) plus a 10-digit group id
     * (customer_group_id is an unsigned int) must still fit after the slot.
     */
    public const MAX_SLOT_LENGTH = 237;

    /** Largest customer_group_id column value (int unsigned). */
    public const MAX_GROUP_ID = 4294967295;

    private const SLOT_PATTERN = '/^[A-Za-z0-9_-]+$/D';

    /**
     * The slot, trimmed, after checking it can name CMS blocks unambiguously.
     *
     * Same characters as segbridge's segment files accept for cms_blocks.identifier.
     * A slot containing "--group-" is refused: with fallback "default" the widget
     * "home--group-3" would otherwise show group 3's block to every shopper.
     *
     * @throws InvalidArgumentException naming the bad slot
     */
    public function validateSlot(string $slot): string
    {
        $trimmed = trim($slot);
        if ($trimmed === '') {
            throw new InvalidArgumentException('slot is empty: give the slot name, e.g. slot="home-hero"');
        }
        if (strlen($trimmed) > self::MAX_SLOT_LENGTH) {
            throw new InvalidArgumentException(sprintf(
                'slot "%s" is %d characters long; at most %d fit in a CMS block identifier',
                $trimmed,
                strlen($trimmed),
                self::MAX_SLOT_LENGTH
            ));
        }
        if (preg_match(self::SLOT_PATTERN, $trimmed) !== 1) {
            throw new InvalidArgumentException(sprintf(
                'slot "%s" is not valid: use only letters, digits, "_" and "-"',
                $trimmed
            ));
        }
        if (stripos($trimmed, self::GROUP_MARKER) !== false) {
            throw new InvalidArgumentException(sprintf(
                'slot "%s" must not contain "%s": that names one group\'s block, not a slot',
                $trimmed,
                self::GROUP_MARKER
            ));
        }
        return $trimmed;
    }

    /**
     * "default" or "none"; an absent or empty fallback means "default" (the widget's default).
     *
     * @param string|null $fallback
     * @throws InvalidArgumentException for any other value, so a typo never shows the wrong block
     */
    public function normaliseFallback($fallback): string
    {
        if ($fallback === null) {
            return self::FALLBACK_DEFAULT;
        }
        if (!is_string($fallback)) {
            throw new InvalidArgumentException('fallback must be "default" or "none"');
        }
        $value = strtolower(trim($fallback));
        if ($value === '') {
            return self::FALLBACK_DEFAULT;
        }
        if ($value !== self::FALLBACK_DEFAULT && $value !== self::FALLBACK_NONE) {
            throw new InvalidArgumentException(sprintf(
                'fallback "%s" is not valid: use "%s" or "%s"',
                $fallback,
                self::FALLBACK_DEFAULT,
                self::FALLBACK_NONE
            ));
        }
        return $value;
    }

    /**
     * The identifier segbridge writes for a group: exactly "<slot>--group-<group id>".
     *
     * @throws InvalidArgumentException for a bad slot or a group id outside 0..2^32-1
     */
    public function groupIdentifier(string $slot, int $groupId): string
    {
        $this->checkGroupId($groupId);
        return $this->validateSlot($slot) . self::GROUP_MARKER . $groupId;
    }

    /**
     * Identifiers to look for, best first: the group's block, then (fallback "default") the slot's.
     *
     * The widget uses these both for its single database query and as cache tags, so that
     * creating any of them later invalidates the cached output.
     *
     * @param string|null $fallback
     * @return string[]
     * @throws InvalidArgumentException for a bad slot, group id or fallback
     */
    public function candidates(string $slot, int $groupId, $fallback): array
    {
        $slot = $this->validateSlot($slot);
        $candidates = [$this->groupIdentifier($slot, $groupId)];
        if ($this->normaliseFallback($fallback) === self::FALLBACK_DEFAULT) {
            $candidates[] = $slot;
        }
        return $candidates;
    }

    /**
     * The identifier to render, or null to render nothing.
     *
     * $activeIdentifiers is called once with the candidate identifiers and returns those of
     * them that exist and are active for the current store view (store-specific or
     * "All Store Views"). Matching is case-insensitive, like MySQL's lookup of
     * cms_block.identifier. The returned value is the candidate as built here.
     *
     * @param string|null $fallback
     * @param callable(string[]): iterable<string> $activeIdentifiers
     * @throws InvalidArgumentException for a bad slot, group id or fallback
     */
    public function choose(string $slot, int $groupId, $fallback, callable $activeIdentifiers): ?string
    {
        $candidates = $this->candidates($slot, $groupId, $fallback);
        $found = [];
        foreach ($activeIdentifiers($candidates) as $identifier) {
            if (is_string($identifier)) {
                $found[strtolower($identifier)] = true;
            }
        }
        foreach ($candidates as $candidate) {
            if (isset($found[strtolower($candidate)])) {
                return $candidate;
            }
        }
        return null;
    }

    private function checkGroupId(int $groupId): void
    {
        if ($groupId < 0 || $groupId > self::MAX_GROUP_ID) {
            throw new InvalidArgumentException(sprintf(
                'customer group id %d is not valid: it must be between 0 (NOT LOGGED IN) and %d',
                $groupId,
                self::MAX_GROUP_ID
            ));
        }
    }
}
