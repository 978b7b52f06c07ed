<?php
/**
 * Stand-ins for the Magento classes the REST services and the session plugin call, written
 * for these tests from the signatures read in Magento Open Source 2.4.4 to 2.4.8-p1 (see the
 * file:line comments in the module's classes). Like MagentoStandIns.php they check the
 * module's own logic, not Magento's behaviour. Loaded only by Test/Stubbed tests.
 */
declare(strict_types=1);

namespace {
    require_once __DIR__ . '/MagentoStandIns.php';
}

namespace Magento\Framework {
    /** A message with %1, %2 ... placeholders, as Magento renders it. */
    class Phrase
    {
        /** @var string */
        private $text;

        /** @var array<int, mixed> */
        private $arguments;

        public function __construct($text, array $arguments = [])
        {
            $this->text = (string) $text;
            $this->arguments = $arguments;
        }

        public function render()
        {
            $text = $this->text;
            foreach (array_values($this->arguments) as $i => $argument) {
                $text = str_replace('%' . ($i + 1), (string) $argument, $text);
            }
            return $text;
        }

        public function __toString()
        {
            return $this->render();
        }
    }
}

namespace Magento\Framework\Exception {
    use Magento\Framework\Phrase;

    /** REST answers these with status 400 and the rendered message. */
    class LocalizedException extends \Exception
    {
        public function __construct(Phrase $phrase, ?\Exception $cause = null, $code = 0)
        {
            parent::__construct($phrase->render(), (int) $code, $cause);
        }
    }

    class InputException extends LocalizedException
    {
    }

    /** REST answers this with status 404. */
    class NoSuchEntityException extends LocalizedException
    {
    }

    class CouldNotSaveException extends LocalizedException
    {
    }
}

namespace Magento\Framework\App {
    use Segbridge\SegmentBlock\Test\Stubbed\SqliteConnection;

    /** Hands out one connection; table names without prefix. */
    class ResourceConnection
    {
        /** @var SqliteConnection */
        private $connection;

        public function __construct(SqliteConnection $connection)
        {
            $this->connection = $connection;
        }

        public function getConnection($resourceName = 'default')
        {
            return $this->connection;
        }

        public function getTableName($modelEntity, $connectionName = 'default')
        {
            return (string) $modelEntity;
        }
    }

    interface ActionInterface
    {
        public function execute();
    }

    interface HttpRequestInterface
    {
        public function isPost();
    }
}

namespace Magento\Framework\Indexer {
    /** Records what each indexer was asked to do; can be told to fail. */
    class RecordingIndexer
    {
        /** @var array<int, int[]> */
        public $reindexedLists = [];

        /** @var int */
        public $invalidated = 0;

        /** @var \Throwable|null */
        public $failWith;

        public function reindexList($ids)
        {
            if ($this->failWith !== null) {
                throw $this->failWith;
            }
            $this->reindexedLists[] = $ids;
        }

        public function invalidate()
        {
            $this->invalidated++;
        }
    }

    class IndexerRegistry
    {
        /** @var array<string, RecordingIndexer> */
        public $indexers = [];

        public function get($indexerId)
        {
            if (!isset($this->indexers[$indexerId])) {
                $this->indexers[$indexerId] = new RecordingIndexer();
            }
            return $this->indexers[$indexerId];
        }
    }
}

namespace Magento\Framework\Module {
    class Manager
    {
        /** @var string[] */
        private $enabled;

        public function __construct(array $enabled)
        {
            $this->enabled = $enabled;
        }

        public function isEnabled($moduleName)
        {
            return in_array($moduleName, $this->enabled, true);
        }
    }
}

namespace Magento\Customer\Model\Customer {
    /** In-memory notification cache with Magento's key format. */
    class NotificationStorage
    {
        public const UPDATE_CUSTOMER_SESSION = 'update_customer_session';

        /** @var array<string, bool> */
        public $entries = [];

        public function add($notificationType, $customerId)
        {
            $this->entries['notification_' . $notificationType . '_' . $customerId] = true;
        }

        public function isExists($notificationType, $customerId)
        {
            return isset($this->entries['notification_' . $notificationType . '_' . $customerId]);
        }

        public function remove($notificationType, $customerId)
        {
            unset($this->entries['notification_' . $notificationType . '_' . $customerId]);
        }
    }
}

namespace Magento\Customer\Model {
    /** The session fields the plugin reads and writes. */
    class Session
    {
        /** @var int|null */
        public $customerId;

        /** @var int|null */
        public $groupId;

        /** @var int */
        public $groupWrites = 0;

        public function getCustomerId()
        {
            return $this->customerId;
        }

        public function getCustomerGroupId()
        {
            return $this->groupId ?? 0;
        }

        public function setCustomerGroupId($id)
        {
            $this->groupWrites++;
            $this->groupId = $id;
            return $this;
        }
    }
}

namespace Magento\Customer\Api {
    interface CustomerRepositoryInterface
    {
        public function getById($customerId);
    }
}

namespace Magento\Framework\Api {
    /** The search criteria as Magento's REST input processor builds it from the query string. */
    interface SearchCriteriaInterface
    {
        public function getFilterGroups();

        public function getSortOrders();

        public function getPageSize();

        public function getCurrentPage();
    }

    class SearchCriteria implements SearchCriteriaInterface
    {
        /** @var array<int, \Magento\Framework\Api\Search\FilterGroup> */
        public $filterGroups = [];

        /** @var array<int, SortOrder> */
        public $sortOrders = [];

        /** @var int|null */
        public $pageSize;

        /** @var int|null */
        public $currentPage;

        /**
         * @param array<int, array<int, array{0: string, 1: mixed, 2?: string}>> $groups [[field, value, condition], ...] per group
         * @param array<int, array{0: string, 1: string}> $sorts
         */
        public static function of(array $groups = [], array $sorts = [], ?int $pageSize = null, ?int $currentPage = null): self
        {
            $criteria = new self();
            foreach ($groups as $filters) {
                $group = new \Magento\Framework\Api\Search\FilterGroup();
                foreach ($filters as $f) {
                    $group->filters[] = new Filter($f[0], $f[1], $f[2] ?? null);
                }
                $criteria->filterGroups[] = $group;
            }
            foreach ($sorts as $s) {
                $criteria->sortOrders[] = new SortOrder($s[0], $s[1]);
            }
            $criteria->pageSize = $pageSize;
            $criteria->currentPage = $currentPage;
            return $criteria;
        }

        public function getFilterGroups()
        {
            return $this->filterGroups;
        }

        public function getSortOrders()
        {
            return $this->sortOrders;
        }

        public function getPageSize()
        {
            return $this->pageSize;
        }

        public function getCurrentPage()
        {
            return $this->currentPage;
        }
    }

    class Filter
    {
        /** @var string */
        private $field;

        /** @var mixed */
        private $value;

        /** @var string|null */
        private $conditionType;

        public function __construct(string $field, $value, ?string $conditionType)
        {
            $this->field = $field;
            $this->value = $value;
            $this->conditionType = $conditionType;
        }

        public function getField()
        {
            return $this->field;
        }

        public function getValue()
        {
            return $this->value;
        }

        public function getConditionType()
        {
            return $this->conditionType;
        }
    }

    class SortOrder
    {
        /** @var string */
        private $field;

        /** @var string */
        private $direction;

        public function __construct(string $field, string $direction)
        {
            $this->field = $field;
            $this->direction = $direction;
        }

        public function getField()
        {
            return $this->field;
        }

        public function getDirection()
        {
            return $this->direction;
        }
    }
}

namespace Magento\Framework\Api\Search {
    class FilterGroup
    {
        /** @var array<int, \Magento\Framework\Api\Filter> */
        public $filters = [];

        public function getFilters()
        {
            return $this->filters;
        }
    }
}

namespace Magento\CatalogRule\Model\Rule\Condition {
    /** Holds the conditions array as Magento's Combine loads and dumps it (asArray/loadArray). */
    class Combine
    {
        /** @var array<string, mixed> */
        public $loaded = [];

        public function setConditions($conditions)
        {
            $this->loaded = ['conditions' => $conditions];
            return $this;
        }

        public function loadArray($arr, $key = 'conditions')
        {
            $this->loaded = $arr;
            return $this;
        }

        public function asArray(array $arrAttributes = [])
        {
            return $this->loaded;
        }
    }
}

namespace Magento\CatalogRule\Model {
    use Magento\CatalogRule\Model\Rule\Condition\Combine;

    /** The rule model: data fields plus the conditions object. */
    class Rule extends \Magento\Framework\DataObject
    {
        /** @var Combine|null */
        public $conditions;

        public function __call($method, $args)
        {
            $key = strtolower((string) preg_replace('/(.)([A-Z])/', '$1_$2', substr($method, 3)));
            if (strncmp($method, 'set', 3) === 0) {
                return $this->setData($key, $args[0] ?? null);
            }
            return $this->getData($key);
        }

        public function getRuleId()
        {
            return $this->getData('rule_id');
        }

        public function getConditions()
        {
            if ($this->conditions === null) {
                $this->conditions = new Combine();
                $this->conditions->loaded = $this->getData('conditions_array') ?? [];
            }
            return $this->conditions;
        }
    }

    class RuleFactory
    {
        public function create()
        {
            return new Rule();
        }
    }
}

namespace Magento\CatalogRule\Api {
    interface CatalogRuleRepositoryInterface
    {
        public function save(\Magento\CatalogRule\Model\Rule $rule);

        public function get($ruleId);
    }
}

namespace Magento\Framework\App\Config {
    interface ScopeConfigInterface
    {
        public function isSetFlag($path, $scopeType = 'default', $scopeCode = null);
    }

    /** Configuration values by path, default scope. */
    class ScopeConfig implements ScopeConfigInterface
    {
        /** @var array<string, string> */
        private $values;

        public function __construct(array $values)
        {
            $this->values = $values;
        }

        public function isSetFlag($path, $scopeType = 'default', $scopeCode = null)
        {
            return !empty($this->values[$path]);
        }
    }
}

namespace Magento\Catalog\Model\ResourceModel\Product {
    /** Products by id with sku, name and price, filtered like the real collection. */
    class Collection implements \IteratorAggregate
    {
        /** @var array<int, array{sku: string, name: ?string, price: ?string}> */
        private $products;

        /** @var int[] */
        private $ids = [];

        /** @var string[] */
        public $attributes = [];

        public function __construct(array $products)
        {
            $this->products = $products;
        }

        public function addAttributeToSelect($attribute, $joinType = false)
        {
            $this->attributes = array_merge($this->attributes, (array) $attribute);
            return $this;
        }

        public function addIdFilter($productId, $exclude = false)
        {
            $this->ids = array_map('intval', (array) $productId);
            return $this;
        }

        public function getIterator(): \Iterator
        {
            CollectionFactory::$loads++;
            foreach ($this->ids as $id) {
                if (isset($this->products[$id])) {
                    $row = $this->products[$id];
                    yield new \Magento\Catalog\Model\Product([
                        'entity_id' => $id,
                        'sku' => $row['sku'],
                        'name' => in_array('name', $this->attributes, true) ? $row['name'] : null,
                        'price' => in_array('price', $this->attributes, true) ? $row['price'] : null,
                    ]);
                }
            }
        }
    }

    class CollectionFactory
    {
        /** @var int */
        public static $loads = 0;

        /** @var array<int, array{sku: string, name: ?string, price: ?string}> */
        public $products = [];

        public function create()
        {
            return new Collection($this->products);
        }
    }
}

namespace Magento\Catalog\Model {
    /** A loaded product: id, sku and the selected attributes. */
    class Product extends \Magento\Framework\DataObject
    {
        public function getId()
        {
            return $this->getData('entity_id');
        }

        public function getSku()
        {
            return $this->getData('sku');
        }

        public function getName()
        {
            return $this->getData('name');
        }

        public function getPrice()
        {
            return $this->getData('price');
        }
    }
}
