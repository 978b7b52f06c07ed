<?php
/**
 * GET /V1/segbridge/info, the session flags, and the storefront plugin that applies a
 * flagged customer's new group before the page-cache context is built.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Stubbed;

use Magento\Customer\Api\CustomerRepositoryInterface;
use Magento\Customer\Model\Customer\NotificationStorage;
use Magento\Customer\Model\Session;
use Magento\Framework\App\ActionInterface;
use Magento\Framework\App\Config\ScopeConfig;
use Magento\Framework\App\HttpRequestInterface;
use Magento\Framework\App\RequestInterface;
use Magento\Framework\Exception\NoSuchEntityException;
use Magento\Framework\Module\Manager;
use Magento\Framework\Phrase;
use PHPUnit\Framework\TestCase;
use Psr\Log\LoggerInterface;
use Segbridge\SegmentBlock\Model\Info;
use Segbridge\SegmentBlock\Model\SessionRefresh;
use Segbridge\SegmentBlock\Plugin\RefreshCustomerSessionGroup;

final class InfoAndSessionRefreshTest extends TestCase
{
    /** @var NotificationStorage */
    private $notifications;

    /** @var Session */
    private $session;

    /** @var array<int, int> */
    private $storedGroups;

    /** @var int */
    private $repositoryLoads;

    /** @var string[] */
    private $errors;

    public static function setUpBeforeClass(): void
    {
        if (!defined('SEGBRIDGE_MAGENTO_STAND_INS')
            && class_exists(\Magento\Framework\App\ResourceConnection::class, true)
        ) {
            self::markTestSkipped('real Magento classes are present; the stand-ins are for Magento-free runs');
        }
        require_once __DIR__ . '/ApiStandIns.php';
    }

    protected function setUp(): void
    {
        $this->notifications = new NotificationStorage();
        $this->session = new Session();
        $this->storedGroups = [7 => 5];
        $this->repositoryLoads = 0;
        $this->errors = [];
    }

    public function testInfoNamesTheVersionAndOnlyTheFeaturesWhoseModulesAreEnabled(): void
    {
        $all = (new Info(
            new Manager(['Magento_CatalogRule', 'Magento_Wishlist', 'Magento_Reports']),
            new ScopeConfig(['reports/options/enabled' => '1', 'reports/options/product_view_enabled' => '1'])
        ))->get();
        self::assertSame('Segbridge_SegmentBlock', $all->getModule());
        self::assertSame(Info::VERSION, $all->getVersion());
        self::assertSame(
            ['group_assignments', 'session_refresh', 'catalog_rules', 'wishlist_items', 'product_views'],
            $all->getFeatures()
        );
        self::assertSame(1000, $all->getMaxGroupAssignments());
        self::assertTrue($all->getProductViewsRecorded());

        $bare = (new Info(new Manager(['Magento_Wishlist']), new ScopeConfig(['reports/options/enabled' => '1'])))->get();
        self::assertSame(['group_assignments', 'session_refresh', 'wishlist_items'], $bare->getFeatures());
        self::assertFalse($bare->getProductViewsRecorded());
    }

    public function testProductViewsAreReportedUnrecordedWhileMagentosReportsAreOff(): void
    {
        // Magento's default: reports/options/enabled = 0, product_view_enabled = 1.
        $info = (new Info(
            new Manager(['Magento_Reports']),
            new ScopeConfig(['reports/options/product_view_enabled' => '1'])
        ))->get();
        self::assertContains('product_views', $info->getFeatures());
        self::assertFalse($info->getProductViewsRecorded());
    }

    public function testInfoVersionIsComposerVersion(): void
    {
        $composer = json_decode((string) file_get_contents(dirname(__DIR__, 2) . '/composer.json'), true);
        self::assertSame($composer['version'], Info::VERSION);
    }

    public function testSessionRefreshUsesMagentosNotificationKey(): void
    {
        $refresh = new SessionRefresh($this->notifications);
        $refresh->flag([3, 4]);
        self::assertSame(
            ['notification_update_customer_session_3' => true, 'notification_update_customer_session_4' => true],
            $this->notifications->entries
        );
        self::assertTrue($refresh->isFlagged(4));
        self::assertFalse($refresh->isFlagged(5));
    }

    private function plugin(bool $post): RefreshCustomerSessionGroup
    {
        $request = $post
            ? new class implements RequestInterface, HttpRequestInterface {
                public function isSecure()
                {
                    return true;
                }

                public function isPost()
                {
                    return true;
                }
            }
            : new class implements RequestInterface, HttpRequestInterface {
                public function isSecure()
                {
                    return true;
                }

                public function isPost()
                {
                    return false;
                }
            };
        $test = $this;
        $repository = new class ($test) implements CustomerRepositoryInterface {
            /** @var InfoAndSessionRefreshTest */
            private $test;

            public function __construct(InfoAndSessionRefreshTest $test)
            {
                $this->test = $test;
            }

            public function getById($customerId)
            {
                return $this->test->load((int) $customerId);
            }
        };
        $errors = &$this->errors;
        $logger = new class ($errors) implements LoggerInterface {
            /** @var string[] */
            private $errors;

            public function __construct(array &$errors)
            {
                $this->errors = &$errors;
            }

            public function warning($message, array $context = [])
            {
                $this->errors[] = (string) $message;
            }

            public function error($message, array $context = [])
            {
                $this->errors[] = (string) $message;
            }
        };
        return new RefreshCustomerSessionGroup(
            $this->session,
            new SessionRefresh($this->notifications),
            $repository,
            $request,
            $logger
        );
    }

    /** The customer repository stand-in: the group Magento stores for a customer. */
    public function load(int $customerId): object
    {
        $this->repositoryLoads++;
        if (!isset($this->storedGroups[$customerId])) {
            throw new NoSuchEntityException(new Phrase('No such entity with customerId = %1', [$customerId]));
        }
        $group = $this->storedGroups[$customerId];
        return new class ($group) {
            /** @var int */
            private $group;

            public function __construct(int $group)
            {
                $this->group = $group;
            }

            public function getGroupId()
            {
                return (string) $this->group; // Magento's data object answers strings
            }
        };
    }

    private static function action(): ActionInterface
    {
        return new class implements ActionInterface {
            public function execute()
            {
                return null;
            }
        };
    }

    public function testFlaggedCustomerGetsTheStoredGroupOnAGetRequestAndTheFlagStaysForCore(): void
    {
        $this->session->customerId = 7;
        $this->session->groupId = 1;
        $this->notifications->add(NotificationStorage::UPDATE_CUSTOMER_SESSION, 7);

        $this->plugin(false)->beforeExecute(self::action());

        self::assertSame(5, $this->session->getCustomerGroupId());
        self::assertTrue($this->notifications->isExists(NotificationStorage::UPDATE_CUSTOMER_SESSION, 7));
    }

    public function testUnflaggedCustomerCostsNoLoad(): void
    {
        $this->session->customerId = 7;
        $this->session->groupId = 1;

        $this->plugin(false)->beforeExecute(self::action());

        self::assertSame(1, $this->session->getCustomerGroupId());
        self::assertSame(0, $this->repositoryLoads);
    }

    public function testPostIsLeftToMagentosOwnPlugin(): void
    {
        $this->session->customerId = 7;
        $this->session->groupId = 1;
        $this->notifications->add(NotificationStorage::UPDATE_CUSTOMER_SESSION, 7);

        $this->plugin(true)->beforeExecute(self::action());

        self::assertSame(1, $this->session->getCustomerGroupId());
        self::assertSame(0, $this->repositoryLoads);
    }

    public function testGuestsAreNeverLookedUp(): void
    {
        $this->notifications->add(NotificationStorage::UPDATE_CUSTOMER_SESSION, 0);

        $this->plugin(false)->beforeExecute(self::action());

        self::assertSame(0, $this->repositoryLoads);
        self::assertSame(0, $this->session->groupWrites);
    }

    public function testSameGroupIsNotRewritten(): void
    {
        $this->session->customerId = 7;
        $this->session->groupId = 5;
        $this->notifications->add(NotificationStorage::UPDATE_CUSTOMER_SESSION, 7);

        $this->plugin(false)->beforeExecute(self::action());

        self::assertSame(0, $this->session->groupWrites);
    }

    public function testDeletedCustomerIsLoggedAndTheSessionLeftAlone(): void
    {
        $this->session->customerId = 8;
        $this->session->groupId = 1;
        $this->notifications->add(NotificationStorage::UPDATE_CUSTOMER_SESSION, 8);

        $this->plugin(false)->beforeExecute(self::action());

        self::assertSame(1, $this->session->getCustomerGroupId());
        self::assertSame(['Segbridge session refresh: customer 8 no longer exists'], $this->errors);
    }
}
