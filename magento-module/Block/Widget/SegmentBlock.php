<?php
/**
 * The "Segment block" CMS widget: thin Magento glue around IdentifierChooser.
 *
 * It reads the customer group from the HTTP context (what the page cache varies on), asks
 * the database once which of the candidate blocks are active for the current store view,
 * and renders the chosen one through the CMS block filter. Its cache tags cover the shown
 * block and every candidate identifier, so editing, enabling, disabling, creating or
 * deleting any of those blocks invalidates the block cache, the built-in full page cache
 * and Varnish.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Block\Widget;

use InvalidArgumentException;
use Magento\Cms\Model\Block as CmsBlock;
use Magento\Cms\Model\ResourceModel\Block\CollectionFactory as BlockCollectionFactory;
use Magento\Cms\Model\Template\FilterProvider;
use Magento\Customer\Model\Context as CustomerContext;
use Magento\Framework\App\Http\Context as HttpContext;
use Magento\Framework\DataObject\IdentityInterface;
use Magento\Framework\View\Element\AbstractBlock;
use Magento\Framework\View\Element\Context;
use Magento\Store\Model\StoreManagerInterface;
use Magento\Widget\Block\BlockInterface;
use Segbridge\SegmentBlock\Model\IdentifierChooser;

class SegmentBlock extends AbstractBlock implements BlockInterface, IdentityInterface
{
    /**
     * Seconds the rendered HTML stays in the block cache. The tags already invalidate it on
     * every relevant block save; the lifetime only bounds staleness of whatever dynamic
     * widgets the block's own content embeds. A cache_lifetime parameter overrides it.
     */
    public const DEFAULT_CACHE_LIFETIME = 3600;

    /**
     * Blocks being rendered right now, by block id: a block whose content embeds a segment
     * widget that resolves to itself would otherwise recurse without end.
     *
     * @var array<int|string, bool>
     */
    private static $rendering = [];

    /** @var HttpContext */
    private $httpContext;

    /** @var StoreManagerInterface */
    private $storeManager;

    /** @var BlockCollectionFactory */
    private $blockCollectionFactory;

    /** @var FilterProvider */
    private $filterProvider;

    /** @var IdentifierChooser */
    private $chooser;

    /**
     * Result of resolve(), per store/group/slot/fallback key: [chosen block or null, candidates].
     *
     * @var array<string, array{0: CmsBlock|null, 1: string[]}>
     */
    private $resolved = [];

    public function __construct(
        Context $context,
        HttpContext $httpContext,
        StoreManagerInterface $storeManager,
        BlockCollectionFactory $blockCollectionFactory,
        FilterProvider $filterProvider,
        IdentifierChooser $chooser,
        array $data = []
    ) {
        $this->httpContext = $httpContext;
        $this->storeManager = $storeManager;
        $this->blockCollectionFactory = $blockCollectionFactory;
        $this->filterProvider = $filterProvider;
        $this->chooser = $chooser;
        parent::__construct($context, $data);
    }

    /**
     * Turn the block cache on (AbstractBlock caches nothing without a lifetime).
     */
    protected function _construct()
    {
        parent::_construct();
        if (!$this->hasData('cache_lifetime')) {
            $this->setData('cache_lifetime', self::DEFAULT_CACHE_LIFETIME);
        }
    }

    /**
     * Everything the output depends on, so each store/group/slot/fallback gets its own entry.
     *
     * @return array<int|string, string>
     */
    public function getCacheKeyInfo(): array
    {
        return [
            'SEGBRIDGE_SEGMENT_BLOCK',
            'store' => (string) $this->currentStoreId(),
            'group' => (string) $this->customerGroupId(),
            'slot' => $this->parameterText('slot'),
            'fallback' => $this->parameterText('fallback'),
            'secure' => $this->getRequest()->isSecure() ? '1' : '0',
            'theme' => (string) $this->_design->getDesignTheme()->getId(),
        ];
    }

    /**
     * Cache tags: the shown block's own identities plus "cms_b_<identifier>" for every candidate.
     *
     * Magento's CMS block model reports "cms_b_<id>" and "cms_b_<identifier>" when it is saved
     * or deleted, so the candidate tags catch a group block that is created after this output
     * was cached, not only edits of the block that was shown.
     *
     * @return string[]
     */
    public function getIdentities(): array
    {
        [$block, $candidates] = $this->resolve();
        $tags = [];
        foreach ($candidates as $identifier) {
            $tags[] = CmsBlock::CACHE_TAG . '_' . $identifier;
        }
        if ($block !== null) {
            $tags = array_merge($tags, $block->getIdentities());
        }
        return array_values(array_unique($tags));
    }

    /**
     * The chosen block's content through the CMS block filter, or '' when there is none.
     */
    protected function _toHtml(): string
    {
        [$block] = $this->resolve();
        if ($block === null) {
            return '';
        }
        $blockId = $block->getId();
        if (isset(self::$rendering[$blockId])) {
            $this->_logger->warning(sprintf(
                'Segbridge segment block: block "%s" embeds a segment widget that shows itself; not rendered again',
                (string) $block->getIdentifier()
            ));
            return '';
        }
        self::$rendering[$blockId] = true;
        try {
            return (string) $this->filterProvider->getBlockFilter()
                ->setStoreId($this->currentStoreId())
                ->filter((string) $block->getContent());
        } finally {
            unset(self::$rendering[$blockId]);
        }
    }

    /**
     * The customer group the page is being built for, from the HTTP context.
     *
     * Magento's customer context plugin puts the session's group there on every storefront
     * request, and the page cache varies on it (X-Magento-Vary), so the output always
     * matches the cache variant it is stored in. The customer session is deliberately not
     * read (Magento depersonalises it while building cacheable pages). Anything but a non-negative
     * integer counts as NOT LOGGED IN, which shows no group's restricted block.
     */
    private function customerGroupId(): int
    {
        $value = $this->httpContext->getValue(CustomerContext::CONTEXT_GROUP);
        if (is_int($value) && $value >= 0) {
            return $value;
        }
        if (is_string($value) && $value !== '' && ctype_digit($value)) {
            return (int) $value;
        }
        return IdentifierChooser::NOT_LOGGED_IN_GROUP_ID;
    }

    /**
     * A widget parameter as text; a non-scalar (only possible from hand-written layout XML)
     * becomes its JSON, which the chooser then rejects as a slot, instead of a PHP warning.
     */
    private function parameterText(string $name): string
    {
        $value = $this->getData($name);
        if ($value === null || is_scalar($value)) {
            return (string) $value;
        }
        return (string) json_encode($value);
    }

    private function currentStoreId(): int
    {
        return (int) $this->storeManager->getStore()->getId();
    }

    /**
     * Chosen block (or null) and candidate identifiers, looked up once per request and key.
     *
     * @return array{0: CmsBlock|null, 1: string[]}
     */
    private function resolve(): array
    {
        $storeId = $this->currentStoreId();
        $groupId = $this->customerGroupId();
        $slot = $this->parameterText('slot');
        $fallback = $this->getData('fallback');
        $key = implode('|', [$storeId, $groupId, $slot, $this->parameterText('fallback')]);
        if (isset($this->resolved[$key])) {
            return $this->resolved[$key];
        }

        $blocks = [];
        try {
            $candidates = $this->chooser->candidates($slot, $groupId, $fallback);
            $chosen = $this->chooser->choose(
                $slot,
                $groupId,
                $fallback,
                function (array $identifiers) use ($storeId, &$blocks): array {
                    $blocks = $this->loadActiveBlocks($identifiers, $storeId);
                    return array_map(
                        static function (CmsBlock $block): string {
                            return (string) $block->getIdentifier();
                        },
                        array_values($blocks)
                    );
                }
            );
        } catch (InvalidArgumentException $e) {
            $this->_logger->warning('Segbridge segment block not rendered: ' . $e->getMessage());
            return $this->resolved[$key] = [null, []];
        }

        $block = $chosen === null ? null : ($blocks[strtolower($chosen)] ?? null);
        return $this->resolved[$key] = [$block, $candidates];
    }

    /**
     * Active blocks with one of the identifiers, assigned to the store view or to All Store Views.
     *
     * One identifier may exist twice here: once for All Store Views and once for this store
     * view (Magento refuses only a second block sharing a store). The collection's store
     * filter asks for both: addStoreFilter($storeId, true) (module-cms/Model/ResourceModel/
     * Block/Collection.php:78-80 in 2.4.4, :74-76 in 2.4.8-p1) calls performAddStoreFilter,
     * which adds store 0 to the list (module-cms/Model/ResourceModel/AbstractCollection.php:
     * 127-141), and the store table join groups by block without any order (:151-160), so
     * either block may come first. The store view's own block
     * wins whatever order the database returns them in, as in Magento's own load of a block
     * by identifier for a store (module-cms/Model/ResourceModel/Block.php:152-170: both
     * stores, "store_id DESC", limit 1; 2.4.4 and 2.4.8-p1). The collection puts every store a block is assigned to in its
     * "store_id" data after load (Magento\Cms\Model\ResourceModel\AbstractCollection::
     * performAfterLoad, module-cms/Model/ResourceModel/AbstractCollection.php:89 in 2.4.4 and
     * 2.4.8-p1).
     *
     * @param string[] $identifiers
     * @return array<string, CmsBlock> by lower-cased identifier (MySQL compares case-insensitively)
     */
    private function loadActiveBlocks(array $identifiers, int $storeId): array
    {
        $collection = $this->blockCollectionFactory->create();
        $collection->addFieldToFilter('identifier', ['in' => $identifiers])
            ->addFieldToFilter('is_active', CmsBlock::STATUS_ENABLED)
            ->addStoreFilter($storeId, true);

        $byIdentifier = [];
        $ownStore = [];
        /** @var CmsBlock $block */
        foreach ($collection as $block) {
            $identifier = strtolower((string) $block->getIdentifier());
            $stores = array_map('intval', (array) $block->getData('store_id'));
            $forThisStore = $storeId !== 0 && in_array($storeId, $stores, true);
            if (!isset($byIdentifier[$identifier]) || ($forThisStore && !isset($ownStore[$identifier]))) {
                $byIdentifier[$identifier] = $block;
                if ($forThisStore) {
                    $ownStore[$identifier] = true;
                }
            }
        }
        return $byIdentifier;
    }
}
