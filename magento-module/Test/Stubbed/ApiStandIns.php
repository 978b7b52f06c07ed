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
