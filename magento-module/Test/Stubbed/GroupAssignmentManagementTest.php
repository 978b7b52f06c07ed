<?php
/**
 * POST /V1/segbridge/groupAssignments against a real SQL database (SQLite standing in for
 * MySQL): compare-and-set, one UPDATE per target group, grid reindex and session flags for
 * exactly the changed customers, nothing written on a refused request.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Stubbed;

use Magento\Customer\Model\Customer\NotificationStorage;
use Magento\Framework\App\ResourceConnection;
use Magento\Framework\Exception\InputException;
use Magento\Framework\Indexer\IndexerRegistry;
use PHPUnit\Framework\TestCase;
use Psr\Log\LoggerInterface;
use RuntimeException;
use Segbridge\SegmentBlock\Api\Data\GroupAssignmentOutcomeInterface;
use Segbridge\SegmentBlock\Model\Data\GroupAssignment;
use Segbridge\SegmentBlock\Model\GroupAssignmentManagement;
use Segbridge\SegmentBlock\Model\SessionRefresh;

final class GroupAssignmentManagementTest extends TestCase
{
    /** @var SqliteConnection */
    private $db;

    /** @var IndexerRegistry */
    private $indexers;

    /** @var NotificationStorage */
    private $notifications;

    /** @var string[] */
    private $errors = [];

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
        $this->db = new SqliteConnection();
        $this->db->exec('CREATE TABLE customer_group (customer_group_id INTEGER PRIMARY KEY, customer_group_code TEXT)');
        $this->db->exec('CREATE TABLE customer_entity (entity_id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL DEFAULT 0)');
        foreach ([0 => 'NOT LOGGED IN', 1 => 'General', 2 => 'Wholesale', 3 => 'Retailer', 5 => 'VIP'] as $id => $code) {
            $this->db->exec("INSERT INTO customer_group VALUES ($id, '$code')");
        }
        foreach ([10 => 1, 11 => 1, 12 => 2, 13 => 1, 14 => 5, 15 => 1] as $id => $group) {
            $this->db->exec("INSERT INTO customer_entity VALUES ($id, $group)");
        }
        $this->indexers = new IndexerRegistry();
        $this->notifications = new NotificationStorage();
        $this->errors = [];
    }

    private function service(): GroupAssignmentManagement
    {
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
        return new GroupAssignmentManagement(
            new ResourceConnection($this->db),
            $this->indexers,
            new SessionRefresh($this->notifications),
            $logger
        );
    }

    /** @return array<int, int> customer id => group id */
    private function groups(): array
    {
        $groups = [];
        foreach ($this->db->rows('SELECT entity_id, group_id FROM customer_entity ORDER BY entity_id') as $row) {
            $groups[(int) $row['entity_id']] = (int) $row['group_id'];
        }
        return $groups;
    }

    /** @return string[] */
    private function updates(): array
    {
        return array_values(array_filter($this->db->log, static function (string $sql): bool {
            return strncmp($sql, 'UPDATE', 6) === 0;
        }));
    }

    /** @return array<int, array{0: int, 1: string, 2: int|null}> */
    private static function outcomes($result): array
    {
        return array_map(static function (GroupAssignmentOutcomeInterface $o): array {
            return [$o->getCustomerId(), $o->getStatus(), $o->getGroupId()];
        }, $result->getResults());
    }

    private function flagged(int $customerId): bool
    {
        return $this->notifications->isExists(NotificationStorage::UPDATE_CUSTOMER_SESSION, $customerId);
    }

    public function testAppliesWithOneUpdatePerTargetGroupAndReportsEachCustomer(): void
    {
        $result = $this->service()->assign([
            new GroupAssignment(10, 1, 5),
            new GroupAssignment(12, 2, 5),   // another from-group, same target: same UPDATE
            new GroupAssignment(11, 1, 3),
            new GroupAssignment(13, 2, 5),   // is in 1, not 2: changed meanwhile
            new GroupAssignment(99, 1, 5),   // no such customer
        ]);

        self::assertSame([
            [10, 'applied', 5],
            [12, 'applied', 5],
            [11, 'applied', 3],
            [13, 'changed_meanwhile', 1],
            [99, 'not_found', null],
        ], self::outcomes($result));
        self::assertSame([3, 1, 1], [$result->getApplied(), $result->getChangedMeanwhile(), $result->getNotFound()]);
        self::assertSame([], $result->getWarnings());
        self::assertSame([10 => 5, 11 => 3, 12 => 5, 13 => 1, 14 => 5, 15 => 1], $this->groups());

        self::assertCount(2, $this->updates(), implode("\n", $this->updates()));
        self::assertSame(1, $this->db->lockingReads);
        self::assertSame(1, $this->db->commits);
        self::assertSame([[10, 11, 12]], $this->indexers->get('customer_grid')->reindexedLists);
        foreach ([10, 11, 12] as $id) {
            self::assertTrue($this->flagged($id), "customer $id flagged");
        }
        foreach ([13, 14, 15, 99] as $id) {
            self::assertFalse($this->flagged($id), "customer $id not flagged");
        }
    }

    public function testSameFromAndToIsAppliedWithoutWriting(): void
    {
        $result = $this->service()->assign([new GroupAssignment(14, 5, 5)]);

        self::assertSame([[14, 'applied', 5]], self::outcomes($result));
        self::assertSame([], $this->updates());
        self::assertSame([], $this->indexers->get('customer_grid')->reindexedLists);
        self::assertFalse($this->flagged(14));
    }

    public function testAThousandAssignmentsToOneGroupAreOneUpdate(): void
    {
        $this->db->exec('DELETE FROM customer_entity');
        $this->db->pdo->beginTransaction();
        for ($id = 1; $id <= 1000; $id++) {
            $this->db->exec("INSERT INTO customer_entity VALUES ($id, 1)");
        }
        $this->db->pdo->commit();
        $assignments = [];
        for ($id = 1; $id <= 1000; $id++) {
            $assignments[] = new GroupAssignment($id, 1, 5);
        }

        $result = $this->service()->assign($assignments);

        self::assertSame(1000, $result->getApplied());
        self::assertCount(1, $this->updates());
        self::assertSame([5], array_values(array_unique($this->groups())));
    }

    /**
     * @return array<string, array{0: callable(): array, 1: string}>
     */
    public function refusedRequests(): array
    {
        return [
            'empty' => [static function (): array {
                return [];
            }, '"assignments" is empty'],
            'too many' => [static function (): array {
                return array_map(static function (int $id): GroupAssignment {
                    return new GroupAssignment($id, 1, 5);
                }, range(1, 1001));
            }, '"assignments" has 1001 items; at most 1000'],
            'duplicate customer' => [static function (): array {
                return [new GroupAssignment(10, 1, 5), new GroupAssignment(11, 1, 5), new GroupAssignment(10, 1, 3)];
            }, 'assignments[2].customer_id 10 already appears in assignments[0]'],
            'to NOT LOGGED IN' => [static function (): array {
                return [new GroupAssignment(10, 1, 5), new GroupAssignment(11, 1, 0)];
            }, 'assignments[1].to_group_id is 0 (NOT LOGGED IN)'],
            'unknown target group' => [static function (): array {
                return [new GroupAssignment(10, 1, 5), new GroupAssignment(11, 1, 77)];
            }, 'assignments[1].to_group_id 77: no customer group has this id; nothing was changed.'],
            'customer id not a number' => [static function (): array {
                return [new GroupAssignment('ten', 1, 5)];
            }, "assignments[0].customer_id must be a whole number of at least 1, got 'ten'."],
            'customer id zero' => [static function (): array {
                return [new GroupAssignment(0, 1, 5)];
            }, 'assignments[0].customer_id must be a whole number of at least 1, got 0.'],
            'missing from group' => [static function (): array {
                return [new GroupAssignment(10, null, 5)];
            }, 'assignments[0].from_group_id is missing.'],
        ];
    }

    /**
     * @dataProvider refusedRequests
     */
    public function testRefusedRequestNamesTheItemAndWritesNothing(callable $assignments, string $message): void
    {
        $before = $this->groups();
        try {
            $this->service()->assign($assignments());
            self::fail('expected an InputException');
        } catch (InputException $e) {
            self::assertStringContainsString($message, $e->getMessage());
        }
        self::assertSame($before, $this->groups());
        self::assertSame([], $this->updates());
        self::assertSame([], $this->notifications->entries);
    }

    public function testGridReindexFailureIsAWarningAndTheChangesStand(): void
    {
        $this->indexers->get('customer_grid')->failWith = new RuntimeException('indexer locked');

        $result = $this->service()->assign([new GroupAssignment(10, 1, 5)]);

        self::assertSame([[10, 'applied', 5]], self::outcomes($result));
        self::assertSame(5, $this->groups()[10]);
        self::assertCount(1, $result->getWarnings());
        self::assertStringContainsString('indexer:reindex customer_grid', $result->getWarnings()[0]);
        self::assertStringContainsString('indexer locked', $this->errors[0]);
        self::assertTrue($this->flagged(10));
    }

    public function testAnUnexpectedRowCountRollsEverythingBack(): void
    {
        // Only possible without the row lock: another writer moves customer 11 just before
        // the second UPDATE. The service must refuse, not report a guess.
        $this->db->beforeStatement = function (string $sql): void {
            if (strpos($sql, 'UPDATE') === 0 && strpos(implode("\n", $this->db->log), 'UPDATE') !== false) {
                $this->db->pdo->exec('UPDATE customer_entity SET group_id = 2 WHERE entity_id = 11');
            }
        };
        try {
            $this->service()->assign([new GroupAssignment(10, 1, 3), new GroupAssignment(11, 1, 5)]);
            self::fail('expected the row-count check to throw');
        } catch (RuntimeException $e) {
            self::assertStringContainsString('rows changed for target group 5', $e->getMessage());
        }
        self::assertSame(1, $this->db->rollbacks);
        self::assertSame(1, $this->groups()[10], 'the first UPDATE was rolled back');
        self::assertSame([], $this->indexers->get('customer_grid')->reindexedLists);
        self::assertSame([], $this->notifications->entries);
    }
}
