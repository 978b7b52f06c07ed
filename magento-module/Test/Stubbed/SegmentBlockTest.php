<?php
/**
 * The widget block's glue, run against the stand-ins in MagentoStandIns.php.
 *
 * Lives outside Test/Unit on purpose: Magento's own unit-test runner picks up
 * vendor/<vendor>/module-<name>/Test/Unit, where the real Magento classes would replace
 * the stand-ins.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Stubbed;

use Magento\Cms\Model\ResourceModel\Block\Collection;
use Magento\Cms\Model\ResourceModel\Block\CollectionFactory;
use Magento\Cms\Model\Template\FilterProvider;
use Magento\Customer\Model\Context as CustomerContext;
use Magento\Framework\App\Http\Context as HttpContext;
use Magento\Framework\App\RequestInterface;
use Magento\Framework\View\DesignInterface;
use Magento\Framework\View\Element\Context;
use Magento\Store\Model\StoreManagerInterface;
use PHPUnit\Framework\TestCase;
use Psr\Log\LoggerInterface;
use Segbridge\SegmentBlock\Block\Widget\SegmentBlock;
use Segbridge\SegmentBlock\Model\IdentifierChooser;

final class SegmentBlockTest extends TestCase
{
    /** @var HttpContext */
    private $httpContext;

    /** @var CollectionFactory */
    private $blocks;

    /** @var FilterProvider */
    private $filters;

    /** @var object{storeId: int} */
    private $store;

    /** @var object{secure: bool} */
    private $request;

    /** @var string[] */
    private $warnings;

    public static function setUpBeforeClass(): void
    {
        if (!defined('SEGBRIDGE_MAGENTO_STAND_INS')
            && class_exists(\Magento\Framework\View\Element\AbstractBlock::class, true)
        ) {
            self::markTestSkipped('real Magento classes are present; the stand-ins are for Magento-free runs');
        }
        require_once __DIR__ . '/MagentoStandIns.php';
    }

    protected function setUp(): void
    {
        $this->httpContext = new HttpContext();
        $this->blocks = new CollectionFactory();
        $this->filters = new FilterProvider();
        $this->store = new class {
            /** @var int */
            public $storeId = 1;
        };
        $this->request = new class implements RequestInterface {
            /** @var bool */
            public $secure = true;

            public function isSecure()
            {
                return $this->secure;
            }
        };
        $this->warnings = [];
        Collection::$queries = 0;
    }

    /**
     * A widget as the CMS filter would create it from {{widget ... slot=".." fallback=".."}}.
     *
     * @param array<string, mixed> $params
     */
    private function widget(array $params): SegmentBlock
    {
        $store = $this->store;
        $storeManager = new class ($store) implements StoreManagerInterface {
            /** @var object{storeId: int} */
            private $store;

            public function __construct(object $store)
            {
                $this->store = $store;
            }

            public function getStore($storeId = null)
            {
                $id = $this->store->storeId;
                return new class ($id) {
                    /** @var int */
                    private $id;

                    public function __construct(int $id)
                    {
                        $this->id = $id;
                    }

                    public function getId()
                    {
                        return (string) $this->id;
                    }
                };
            }
        };
        $design = new class implements DesignInterface {
            public function getDesignTheme()
            {
                return new class {
                    public function getId()
                    {
                        return '4';
                    }
                };
            }
        };
        $warnings = &$this->warnings;
        $logger = new class ($warnings) implements LoggerInterface {
            /** @var string[] */
            private $warnings;

            public function __construct(array &$warnings)
            {
                $this->warnings = &$warnings;
            }

            public function warning($message, array $context = [])
            {
                $this->warnings[] = (string) $message;
            }

            public function error($message, array $context = [])
            {
                $this->warnings[] = (string) $message;
            }
        };

        return new SegmentBlock(
            new Context($this->request, $design, $logger),
            $this->httpContext,
            $storeManager,
            $this->blocks,
            $this->filters,
            new IdentifierChooser(),
            $params
        );
    }

    /** Rows of cms_block with their store assignment. */
    private function givenBlocks(array ...$rows): void
    {
        $this->blocks->rows = array_map(static function (array $row): array {
            return $row + ['is_active' => 1, 'stores' => [0], 'content' => 'content of ' . $row['identifier']];
        }, $rows);
    }

    private function shopperInGroup($groupId): void
    {
        $this->httpContext->setValue(CustomerContext::CONTEXT_GROUP, $groupId, 0);
    }

    public function testRendersTheShoppersGroupBlock(): void
    {
        $this->givenBlocks(
            ['block_id' => 10, 'identifier' => 'home-hero'],
            ['block_id' => 11, 'identifier' => 'home-hero--group-5'],
            ['block_id' => 12, 'identifier' => 'home-hero--group-6']
        );
        $this->shopperInGroup('5');
        $widget = $this->widget(['slot' => 'home-hero', 'fallback' => 'default']);

        self::assertSame('content of home-hero--group-5', $widget->toHtml());
        self::assertSame(1, $this->filters->blockFilter->storeId);
    }

    public function testFallsBackToTheSlotBlockAndCanShowNothing(): void
    {
        $this->givenBlocks(
            ['block_id' => 10, 'identifier' => 'home-hero'],
            ['block_id' => 12, 'identifier' => 'home-hero--group-6']
        );
        $this->shopperInGroup(5);

        self::assertSame('content of home-hero', $this->widget(['slot' => 'home-hero'])->toHtml());
        self::assertSame('', $this->widget(['slot' => 'home-hero', 'fallback' => 'none'])->toHtml());
    }

    public function testInactiveBlocksAndOtherStoresBlocksAreSkipped(): void
    {
        $this->givenBlocks(
            ['block_id' => 10, 'identifier' => 'home-hero', 'stores' => [1]],
            ['block_id' => 11, 'identifier' => 'home-hero--group-5', 'is_active' => 0],
            ['block_id' => 13, 'identifier' => 'home-hero--group-5', 'stores' => [2]]
        );
        $this->shopperInGroup(5);

        self::assertSame('content of home-hero', $this->widget(['slot' => 'home-hero'])->toHtml());
        $this->store->storeId = 3;
        self::assertSame('', $this->widget(['slot' => 'home-hero'])->toHtml());
        $this->store->storeId = 2;
        self::assertSame('content of home-hero--group-5', $this->widget(['slot' => 'home-hero'])->toHtml());
    }

    public function testABlockForTheShoppersStoreViewWinsOverOneForAllStoreViews(): void
    {
        // Magento allows one identifier once per store view, so "home-hero--group-5" can
        // exist for All Store Views and for store view 1; the query returns both, in
        // whatever order the database likes (here: All Store Views first).
        $this->givenBlocks(
            ['block_id' => 20, 'identifier' => 'home-hero--group-5', 'stores' => [0], 'content' => 'everywhere'],
            ['block_id' => 21, 'identifier' => 'home-hero--group-5', 'stores' => [1], 'content' => 'store view 1'],
            ['block_id' => 22, 'identifier' => 'home-hero', 'stores' => [0], 'content' => 'default everywhere'],
            ['block_id' => 23, 'identifier' => 'home-hero', 'stores' => [2, 3], 'content' => 'default 2 and 3']
        );
        $this->shopperInGroup(5);

        $widget = $this->widget(['slot' => 'home-hero']);
        self::assertSame('store view 1', $widget->toHtml());
        self::assertContains('cms_b_21', $widget->getIdentities());
        self::assertNotContains('cms_b_20', $widget->getIdentities());

        $this->store->storeId = 2;
        self::assertSame('everywhere', $this->widget(['slot' => 'home-hero'])->toHtml());
        $this->shopperInGroup(6);
        self::assertSame('default 2 and 3', $this->widget(['slot' => 'home-hero'])->toHtml());
    }

    /**
     * @dataProvider contextValues
     * @param mixed $value what the customer context plugin left in the HTTP context
     */
    public function testGroupComesFromTheHttpContext($value, bool $set, string $expected): void
    {
        $this->givenBlocks(
            ['block_id' => 10, 'identifier' => 'home-hero'],
            ['block_id' => 20, 'identifier' => 'home-hero--group-0'],
            ['block_id' => 21, 'identifier' => 'home-hero--group-1'],
            ['block_id' => 23, 'identifier' => 'home-hero--group-3']
        );
        if ($set) {
            $this->shopperInGroup($value);
        }
        self::assertSame($expected, $this->widget(['slot' => 'home-hero'])->toHtml());
    }

    /**
     * @return array<string, array{mixed, bool, string}>
     */
    public function contextValues(): array
    {
        return [
            'logged-in group as string' => ['3', true, 'content of home-hero--group-3'],
            'logged-in group as int' => [1, true, 'content of home-hero--group-1'],
            'not logged in' => [0, true, 'content of home-hero--group-0'],
            'no context at all means NOT LOGGED IN' => [null, false, 'content of home-hero--group-0'],
            'garbage means NOT LOGGED IN' => ['3; drop', true, 'content of home-hero--group-0'],
            'negative means NOT LOGGED IN' => [-3, true, 'content of home-hero--group-0'],
        ];
    }

    public function testIdentitiesCoverTheShownBlockAndEveryCandidate(): void
    {
        $this->givenBlocks(['block_id' => 10, 'identifier' => 'home-hero']);
        $this->shopperInGroup(5);
        $widget = $this->widget(['slot' => 'home-hero']);
        $widget->toHtml();

        $identities = $widget->getIdentities();
        sort($identities);
        // cms_b_home-hero--group-5: a group block created later must invalidate this output.
        self::assertSame(['cms_b_10', 'cms_b_home-hero', 'cms_b_home-hero--group-5'], $identities);
        self::assertContains('cms_b_home-hero--group-5', $widget->cacheTagsForTest());
    }

    public function testIdentitiesWhenNothingIsShownStillNameTheCandidates(): void
    {
        $this->shopperInGroup(5);
        $widget = $this->widget(['slot' => 'home-hero', 'fallback' => 'none']);
        self::assertSame('', $widget->toHtml());
        self::assertSame(['cms_b_home-hero--group-5'], $widget->getIdentities());
    }

    public function testOneQueryPerRenderIncludingIdentities(): void
    {
        $this->givenBlocks(['block_id' => 11, 'identifier' => 'home-hero--group-5']);
        $this->shopperInGroup(5);
        $widget = $this->widget(['slot' => 'home-hero']);
        $widget->toHtml();
        $widget->getIdentities();
        $widget->getIdentities();
        self::assertSame(1, Collection::$queries);
    }

    public function testCacheKeyVariesByStoreGroupSlotFallbackAndScheme(): void
    {
        $this->shopperInGroup(5);
        $base = $this->widget(['slot' => 'home-hero', 'fallback' => 'default'])->getCacheKeyInfo();
        self::assertSame('5', $base['group']);
        self::assertSame('1', $base['store']);

        $keys = [serialize($base)];
        $this->shopperInGroup(6);
        $keys[] = serialize($this->widget(['slot' => 'home-hero', 'fallback' => 'default'])->getCacheKeyInfo());
        $this->store->storeId = 2;
        $keys[] = serialize($this->widget(['slot' => 'home-hero', 'fallback' => 'default'])->getCacheKeyInfo());
        $keys[] = serialize($this->widget(['slot' => 'side', 'fallback' => 'default'])->getCacheKeyInfo());
        $keys[] = serialize($this->widget(['slot' => 'side', 'fallback' => 'none'])->getCacheKeyInfo());
        $this->request->secure = false;
        $keys[] = serialize($this->widget(['slot' => 'side', 'fallback' => 'none'])->getCacheKeyInfo());
        self::assertCount(6, array_unique($keys));
    }

    public function testBlockCacheIsOnWithADefaultLifetimeThatAParameterOverrides(): void
    {
        self::assertSame(SegmentBlock::DEFAULT_CACHE_LIFETIME, $this->widget(['slot' => 'x'])->getData('cache_lifetime'));
        self::assertSame('60', $this->widget(['slot' => 'x', 'cache_lifetime' => '60'])->getData('cache_lifetime'));
    }

    public function testInvalidSlotRendersNothingLogsAndQueriesNothing(): void
    {
        $this->givenBlocks(['block_id' => 13, 'identifier' => 'home-hero--group-3']);
        $this->shopperInGroup(5);
        $widget = $this->widget(['slot' => 'home-hero--group-3']);

        self::assertSame('', $widget->toHtml());
        self::assertSame([], $widget->getIdentities());
        self::assertSame(0, Collection::$queries);
        self::assertCount(1, $this->warnings);
        self::assertStringContainsString('home-hero--group-3', $this->warnings[0]);
    }

    public function testNonTextParametersRenderNothingWithoutPhpWarnings(): void
    {
        $this->givenBlocks(['block_id' => 10, 'identifier' => 'home-hero']);
        $this->shopperInGroup(5);
        $arraySlot = $this->widget(['slot' => ['home-hero']]);
        $arrayFallback = $this->widget(['slot' => 'home-hero', 'fallback' => ['none']]);

        self::assertSame('', $arraySlot->toHtml());
        self::assertSame('', $arrayFallback->toHtml());
        self::assertNotSame($arraySlot->getCacheKeyInfo(), $arrayFallback->getCacheKeyInfo());
        self::assertCount(2, $this->warnings);
    }

    public function testABlockThatEmbedsItsOwnSlotIsNotRenderedRecursively(): void
    {
        $this->givenBlocks(['block_id' => 11, 'identifier' => 'home-hero--group-5', 'content' => 'outer[NESTED]']);
        $this->shopperInGroup(5);
        $depth = 0;
        // The real CMS filter would create a new widget for a {{widget}} directive in the content.
        $this->filters->blockFilter->renderer = function (string $content) use (&$depth): string {
            $depth++;
            if ($depth > 3) {
                self::fail('widget rendered itself recursively');
            }
            return str_replace('[NESTED]', $this->widget(['slot' => 'home-hero'])->toHtml(), $content);
        };

        self::assertSame('outer', $this->widget(['slot' => 'home-hero'])->toHtml());
        self::assertCount(1, $this->warnings);
        // The guard is released afterwards: the next render works again.
        $depth = 0;
        self::assertSame('outer', $this->widget(['slot' => 'home-hero'])->toHtml());
    }
}
