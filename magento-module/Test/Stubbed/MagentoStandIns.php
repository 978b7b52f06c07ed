<?php
/**
 * Minimal stand-ins for the Magento classes the widget block touches, so its glue logic
 * (group from the HTTP context, one store-filtered query, cache tags and key, recursion
 * guard) can be exercised without a Magento install.
 *
 * They mirror only the signatures the widget calls, as found in Magento 2.4's sources
 * (AbstractBlock, Http\Context, Cms block collection/model, FilterProvider). They prove the
 * glue's own logic, not Magento's behaviour; a real store is the test of that (README).
 * Loaded only by Test/Stubbed tests, never where Magento's classes exist.
 */
declare(strict_types=1);

namespace {
    define('SEGBRIDGE_MAGENTO_STAND_INS', true);
}

namespace Psr\Log {
    interface LoggerInterface
    {
        public function warning($message, array $context = []);

        public function error($message, array $context = []);
    }
}

namespace Magento\Framework {
    class DataObject
    {
        /** @var array<string, mixed> */
        protected $_data;

        public function __construct(array $data = [])
        {
            $this->_data = $data;
        }

        public function getData($key = '')
        {
            if ($key === '') {
                return $this->_data;
            }
            return $this->_data[$key] ?? null;
        }

        public function setData($key, $value = null)
        {
            $this->_data[$key] = $value;
            return $this;
        }

        public function hasData($key = '')
        {
            return array_key_exists($key, $this->_data);
        }
    }
}

namespace Magento\Framework\DataObject {
    interface IdentityInterface
    {
        public function getIdentities();
    }
}

namespace Magento\Framework\App {
    interface RequestInterface
    {
        public function isSecure();
    }
}

namespace Magento\Framework\App\Http {
    /** Same contract as Magento's: a value, or its registered default, or null. */
    class Context
    {
        /** @var array<string, mixed> */
        private $data = [];

        /** @var array<string, mixed> */
        private $default = [];

        public function setValue($name, $value, $default)
        {
            $this->default[$name] = $default;
            $this->data[$name] = $value;
            return $this;
        }

        public function getValue($name)
        {
            return $this->data[$name] ?? ($this->default[$name] ?? null);
        }
    }
}

namespace Magento\Framework\View {
    interface DesignInterface
    {
        public function getDesignTheme();
    }
}

namespace Magento\Framework\View\Element {
    use Magento\Framework\App\RequestInterface;
    use Magento\Framework\View\DesignInterface;
    use Psr\Log\LoggerInterface;

    class Context
    {
        /** @var RequestInterface */
        public $request;

        /** @var DesignInterface */
        public $design;

        /** @var LoggerInterface */
        public $logger;

        public function __construct(RequestInterface $request, DesignInterface $design, LoggerInterface $logger)
        {
            $this->request = $request;
            $this->design = $design;
            $this->logger = $logger;
        }
    }

    /** The parts of Magento's AbstractBlock the widget relies on. */
    abstract class AbstractBlock extends \Magento\Framework\DataObject
    {
        /** @var DesignInterface */
        protected $_design;

        /** @var LoggerInterface */
        protected $_logger;

        /** @var RequestInterface */
        protected $_request;

        public function __construct(Context $context, array $data = [])
        {
            $this->_request = $context->request;
            $this->_design = $context->design;
            $this->_logger = $context->logger;
            parent::__construct($data);
            $this->_construct();
        }

        protected function _construct()
        {
        }

        public function getRequest()
        {
            return $this->_request;
        }

        public function toHtml()
        {
            return $this->_toHtml();
        }

        protected function _toHtml()
        {
            return '';
        }

        public function getCacheKeyInfo()
        {
            return [];
        }

        /** As in Magento: explicit cache_tags, the block_html group, then the identities. */
        public function cacheTagsForTest(): array
        {
            $tags = $this->hasData('cache_tags') ? $this->getData('cache_tags') : [];
            $tags[] = 'BLOCK_HTML';
            if ($this instanceof \Magento\Framework\DataObject\IdentityInterface) {
                $tags = array_merge($tags, $this->getIdentities());
            }
            return $tags;
        }
    }
}

namespace Magento\Widget\Block {
    interface BlockInterface
    {
        public function toHtml();
    }
}

namespace Magento\Customer\Model {
    class Context
    {
        public const CONTEXT_GROUP = 'customer_group';
    }
}

namespace Magento\Store\Model {
    interface StoreManagerInterface
    {
        public function getStore($storeId = null);
    }
}

namespace Magento\Cms\Model {
    use Magento\Framework\DataObject\IdentityInterface;

    /** A CMS block row; identities as Magento 2.4's model reports them. */
    class Block extends \Magento\Framework\DataObject implements IdentityInterface
    {
        public const CACHE_TAG = 'cms_b';
        public const STATUS_ENABLED = 1;

        public function getId()
        {
            return $this->getData('block_id');
        }

        public function getIdentifier()
        {
            return (string) $this->getData('identifier');
        }

        public function getContent()
        {
            return $this->getData('content');
        }

        public function getIdentities()
        {
            return [self::CACHE_TAG . '_' . $this->getId(), self::CACHE_TAG . '_' . $this->getIdentifier()];
        }
    }
}

namespace Magento\Cms\Model\ResourceModel\Block {
    use Magento\Cms\Model\Block;

    /**
     * In-memory cms_block + cms_block_store: filters like the real collection, with
     * identifiers compared case-insensitively (MySQL's default collation).
     */
    class Collection implements \IteratorAggregate
    {
        /** @var array<int, array{block_id: int, identifier: string, content: string, is_active: int, stores: int[]}> */
        private $rows;

        /** @var array<string, mixed> */
        private $filters = [];

        /** @var int[]|null */
        private $stores;

        /** @var int */
        public static $queries = 0;

        public function __construct(array $rows)
        {
            $this->rows = $rows;
        }

        public function addFieldToFilter($field, $condition = null)
        {
            $this->filters[$field] = $condition;
            return $this;
        }

        public function addStoreFilter($store, $withAdmin = true)
        {
            $this->stores = array_merge((array) $store, $withAdmin ? [0] : []);
            return $this;
        }

        public function getIterator(): \Iterator
        {
            self::$queries++;
            foreach ($this->rows as $row) {
                if (isset($this->filters['identifier'])) {
                    $wanted = array_map('strtolower', $this->filters['identifier']['in']);
                    if (!in_array(strtolower($row['identifier']), $wanted, true)) {
                        continue;
                    }
                }
                if (isset($this->filters['is_active']) && (int) $row['is_active'] !== (int) $this->filters['is_active']) {
                    continue;
                }
                if ($this->stores !== null && !array_intersect($row['stores'], $this->stores)) {
                    continue;
                }
                // As Magento's CMS AbstractCollection::performAfterLoad: every store the
                // block is assigned to, not only the filtered one.
                yield new Block($row + ['store_id' => $row['stores']]);
            }
        }
    }

    class CollectionFactory
    {
        /** @var array<int, array<string, mixed>> */
        public $rows = [];

        public function create()
        {
            return new Collection($this->rows);
        }
    }
}

namespace Magento\Cms\Model\Template {
    /** Stands in for the CMS block filter: hands content to a test-supplied renderer. */
    class Filter
    {
        /** @var callable(string, int): string */
        public $renderer;

        /** @var int|null */
        public $storeId;

        public function setStoreId($storeId)
        {
            $this->storeId = $storeId;
            return $this;
        }

        public function filter($value)
        {
            return ($this->renderer)($value, $this->storeId);
        }
    }

    class FilterProvider
    {
        /** @var Filter */
        public $blockFilter;

        public function __construct()
        {
            $this->blockFilter = new Filter();
            $this->blockFilter->renderer = static function (string $content, $storeId): string {
                return $content;
            };
        }

        public function getBlockFilter()
        {
            return $this->blockFilter;
        }
    }
}
