<?php
/**
 * Tests of the identifier choice behind the "Segment block" widget (see README.md).
 *
 * The lookup callable stands in for "which of these identifiers exist and are active for
 * this store view"; each test states the store's blocks and checks what is shown.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Unit\Model;

use InvalidArgumentException;
use PHPUnit\Framework\TestCase;
use Segbridge\SegmentBlock\Model\IdentifierChooser;

final class IdentifierChooserTest extends TestCase
{
    /** @var IdentifierChooser */
    private $chooser;

    protected function setUp(): void
    {
        $this->chooser = new IdentifierChooser();
    }

    /**
     * A lookup over a fixed set of active blocks that records what it was asked.
     *
     * @param string[] $activeBlocks identifiers that exist and are active for the store
     * @param array<int, string[]> $calls filled with the identifiers of each call
     */
    private static function store(array $activeBlocks, ?array &$calls = null): callable
    {
        $calls = [];
        return static function (array $identifiers) use ($activeBlocks, &$calls): array {
            $calls[] = $identifiers;
            $lower = array_map('strtolower', $activeBlocks);
            return array_values(array_filter(
                $activeBlocks,
                static function (string $block, int $i) use ($identifiers, $lower): bool {
                    return in_array($lower[$i], array_map('strtolower', $identifiers), true);
                },
                ARRAY_FILTER_USE_BOTH
            ));
        };
    }

    public function testGroupBlockIsChosenWhenItExists(): void
    {
        $chosen = $this->chooser->choose(
            'home-hero',
            5,
            'default',
            self::store(['home-hero', 'home-hero--group-5', 'home-hero--group-6'])
        );
        self::assertSame('home-hero--group-5', $chosen);
    }

    public function testGroupBlockIsChosenWithFallbackNone(): void
    {
        $chosen = $this->chooser->choose('home-hero', 5, 'none', self::store(['home-hero--group-5']));
        self::assertSame('home-hero--group-5', $chosen);
    }

    public function testOnlyDefaultBlockAndFallbackDefaultShowsDefault(): void
    {
        $chosen = $this->chooser->choose('home-hero', 5, 'default', self::store(['home-hero']));
        self::assertSame('home-hero', $chosen);
    }

    public function testFallbackNoneShowsNothingEvenWhenDefaultExists(): void
    {
        $chosen = $this->chooser->choose('home-hero', 5, 'none', self::store(['home-hero', 'home-hero--group-6']));
        self::assertNull($chosen);
    }

    public function testNothingWhenNoBlockExists(): void
    {
        self::assertNull($this->chooser->choose('home-hero', 5, 'default', self::store([])));
    }

    /**
     * An inactive group block is simply not reported by the store lookup (it filters
     * is_active), so the widget falls back exactly as if the block were absent.
     */
    public function testInactiveOrAbsentGroupBlockFallsBackToDefault(): void
    {
        $chosen = $this->chooser->choose('home-hero', 5, 'default', self::store(['home-hero', 'home-hero--group-6']));
        self::assertSame('home-hero', $chosen);
    }

    public function testAnotherGroupsBlockIsNeverShown(): void
    {
        self::assertNull($this->chooser->choose('home-hero', 5, 'none', self::store(['home-hero--group-6'])));
        self::assertSame(
            'home-hero',
            $this->chooser->choose('home-hero', 5, 'default', self::store(['home-hero', 'home-hero--group-6']))
        );
    }

    /** "--group-5" must not match "--group-50" (or the reverse) through any prefix logic. */
    public function testGroupIdIsMatchedWhole(): void
    {
        self::assertSame(
            'home-hero',
            $this->chooser->choose('home-hero', 5, 'default', self::store(['home-hero', 'home-hero--group-50']))
        );
        self::assertSame(
            'home-hero',
            $this->chooser->choose('home-hero', 50, 'default', self::store(['home-hero', 'home-hero--group-5']))
        );
    }

    public function testNotLoggedInGroupZeroIsAnOrdinaryGroup(): void
    {
        self::assertSame('home-hero--group-0', $this->chooser->groupIdentifier('home-hero', 0));
        self::assertSame(
            'home-hero--group-0',
            $this->chooser->choose('home-hero', 0, 'default', self::store(['home-hero', 'home-hero--group-0']))
        );
        self::assertSame(
            'home-hero',
            $this->chooser->choose('home-hero', 0, 'default', self::store(['home-hero', 'home-hero--group-1']))
        );
        self::assertNull($this->chooser->choose('home-hero', 0, 'none', self::store(['home-hero--group-1'])));
        self::assertSame(0, IdentifierChooser::NOT_LOGGED_IN_GROUP_ID);
    }

    /**
     * @dataProvider identifierFormats
     */
    public function testIdentifierFormatIsExactlySlotGroupId(string $slot, int $groupId, string $expected): void
    {
        self::assertSame($expected, $this->chooser->groupIdentifier($slot, $groupId));
    }

    /**
     * @return array<string, array{string, int, string}>
     */
    public function identifierFormats(): array
    {
        return [
            'usual' => ['home-hero', 5, 'home-hero--group-5'],
            'group 0' => ['home-hero', 0, 'home-hero--group-0'],
            'general group 1' => ['sidebar_promo', 1, 'sidebar_promo--group-1'],
            'digits-only slot' => ['2026', 12, '2026--group-12'],
            'case kept' => ['Home-Hero', 3, 'Home-Hero--group-3'],
            'leading underscore' => ['_hero', 2, '_hero--group-2'],
            'largest group id' => ['x', 4294967295, 'x--group-4294967295'],
            'surrounding blanks trimmed' => ["  home-hero\t", 7, 'home-hero--group-7'],
        ];
    }

    public function testCandidatesAreGroupBlockThenSlotForFallbackDefault(): void
    {
        self::assertSame(['home-hero--group-5', 'home-hero'], $this->chooser->candidates('home-hero', 5, 'default'));
        self::assertSame(['home-hero--group-5'], $this->chooser->candidates('home-hero', 5, 'none'));
    }

    public function testLookupIsAskedOnceForExactlyTheCandidates(): void
    {
        $this->chooser->choose('home-hero', 5, 'default', self::store(['home-hero'], $calls));
        self::assertSame([['home-hero--group-5', 'home-hero']], $calls);

        $this->chooser->choose('home-hero', 5, 'none', self::store(['home-hero'], $calls));
        self::assertSame([['home-hero--group-5']], $calls);
    }

    /** MySQL finds "HOME-HERO--GROUP-5" for "home-hero--group-5"; the choice follows it. */
    public function testStoredIdentifierCaseDoesNotMatter(): void
    {
        $lookup = static function (array $identifiers): array {
            return ['HOME-HERO--GROUP-5'];
        };
        self::assertSame('home-hero--group-5', $this->chooser->choose('home-hero', 5, 'default', $lookup));
    }

    public function testLookupMayReturnAnyIterableAndExtraValuesAreIgnored(): void
    {
        $lookup = static function (array $identifiers): \Generator {
            yield 'something-else';
            yield 42;
            yield 'home-hero';
        };
        self::assertSame('home-hero', $this->chooser->choose('home-hero', 5, 'default', $lookup));
    }

    /**
     * @dataProvider fallbackValues
     * @param mixed $given
     */
    public function testFallbackValues($given, string $expected): void
    {
        self::assertSame($expected, $this->chooser->normaliseFallback($given));
    }

    /**
     * @return array<string, array{mixed, string}>
     */
    public function fallbackValues(): array
    {
        return [
            'absent means default' => [null, 'default'],
            'empty means default' => ['', 'default'],
            'default' => ['default', 'default'],
            'none' => ['none', 'none'],
            'case and blanks' => [' NONE ', 'none'],
        ];
    }

    /**
     * @dataProvider badFallbacks
     * @param mixed $given
     */
    public function testBadFallbackIsRejected($given): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('fallback');
        $this->chooser->choose('home-hero', 5, $given, self::store(['home-hero']));
    }

    /**
     * @return array<string, array{mixed}>
     */
    public function badFallbacks(): array
    {
        return [
            'typo' => ['defualt'],
            'no' => ['no'],
            'zero' => ['0'],
            'not a string' => [['none']],
        ];
    }

    /**
     * @dataProvider badSlots
     */
    public function testBadSlotIsRejectedBeforeAnyLookup(string $slot, string $messagePart): void
    {
        $asked = false;
        $lookup = static function (array $identifiers) use (&$asked): array {
            $asked = true;
            return $identifiers;
        };
        try {
            $this->chooser->choose($slot, 5, 'default', $lookup);
            self::fail('slot ' . json_encode($slot) . ' was accepted');
        } catch (InvalidArgumentException $e) {
            self::assertStringContainsString($messagePart, $e->getMessage());
        }
        self::assertFalse($asked, 'the store was queried for an invalid slot');
    }

    /**
     * @return array<string, array{string, string}>
     */
    public function badSlots(): array
    {
        return [
            'empty' => ['', 'slot is empty'],
            'blank' => ["  \t", 'slot is empty'],
            'inner space' => ['home hero', 'not valid'],
            'slash' => ['home/hero', 'not valid'],
            'dot' => ['home.hero', 'not valid'],
            'quote' => ['home"hero', 'not valid'],
            'markup' => ['<b>hero</b>', 'not valid'],
            'directive' => ['{{var x}}', 'not valid'],
            'non-ascii letter' => ['héro', 'not valid'],
            'trailing newline inside' => ["hero\nx", 'not valid'],
            'names a group block' => ['home-hero--group-3', 'must not contain "--group-"'],
            'group marker any case' => ['home--GROUP-x', 'must not contain "--group-"'],
            'too long' => [str_repeat('a', IdentifierChooser::MAX_SLOT_LENGTH + 1), 'at most 237'],
        ];
    }

    public function testLongestSlotStillFitsTheIdentifierColumn(): void
    {
        $slot = str_repeat('a', IdentifierChooser::MAX_SLOT_LENGTH);
        $identifier = $this->chooser->groupIdentifier($slot, IdentifierChooser::MAX_GROUP_ID);
        self::assertSame(255, strlen($identifier));
    }

    public function testDoubleDashWithoutTheGroupMarkerIsAllowed(): void
    {
        self::assertSame('home--hero', $this->chooser->validateSlot('home--hero'));
        self::assertSame('home--hero--group-2', $this->chooser->groupIdentifier('home--hero', 2));
    }

    /**
     * @dataProvider badGroupIds
     */
    public function testGroupIdOutOfRangeIsRejected(int $groupId): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('customer group id');
        $this->chooser->candidates('home-hero', $groupId, 'default');
    }

    /**
     * @return array<string, array{int}>
     */
    public function badGroupIds(): array
    {
        return [
            'negative' => [-1],
            'above unsigned int' => [IdentifierChooser::MAX_GROUP_ID + 1],
        ];
    }
}
