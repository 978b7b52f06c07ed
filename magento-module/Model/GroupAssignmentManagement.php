<?php
/**
 * POST /V1/segbridge/groupAssignments: compare-and-set group changes in bulk.
 *
 * A customer save through the repository costs hundreds of milliseconds on a real store
 * (EAV, addresses, events, grid reindex of one row); this writes customer_entity.group_id
 * for up to 1,000 customers with one UPDATE per target group inside one transaction, then
 * reindexes the customer grid for exactly the changed rows and flags their sessions.
 *
 * Compare-and-set: the rows are read with a locking read (SELECT ... FOR UPDATE) inside the
 * transaction, and each UPDATE also carries "AND group_id = <from>", so a customer whose
 * group someone else changed is left alone and reported as changed_meanwhile with the group
 * found. customer_entity.updated_at is declared on_update="true" (module-customer
 * etc/db_schema.xml:23), so MySQL stamps it for every changed row as a save would.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model;

use Magento\Framework\App\ResourceConnection;
use Magento\Framework\Exception\InputException;
use Magento\Framework\Indexer\IndexerRegistry;
use Magento\Framework\Phrase;
use Psr\Log\LoggerInterface;
use RuntimeException;
use Segbridge\SegmentBlock\Api\Data\GroupAssignmentInterface;
use Segbridge\SegmentBlock\Api\Data\GroupAssignmentOutcomeInterface as Outcome;
use Segbridge\SegmentBlock\Api\GroupAssignmentManagementInterface;
use Segbridge\SegmentBlock\Model\Data\GroupAssignmentOutcome;
use Segbridge\SegmentBlock\Model\Data\GroupAssignmentResult;
use Throwable;

class GroupAssignmentManagement implements GroupAssignmentManagementInterface
{
    /**
     * The customer grid indexer (module-customer etc/indexer.xml:10). Its action class,
     * Magento\Framework\Indexer\Action\Entity, reindexes a list of rows through
     * Action\Base::executeList (framework/Indexer/Action/Base.php:198).
     */
    public const CUSTOMER_GRID_INDEXER = 'customer_grid';

    /** Magento's NOT LOGGED IN group: never a logged-in customer's group. */
    private const NOT_LOGGED_IN_GROUP_ID = 0;

    /** @var ResourceConnection */
    private $resource;

    /** @var IndexerRegistry */
    private $indexerRegistry;

    /** @var SessionRefresh */
    private $sessionRefresh;

    /** @var LoggerInterface */
    private $logger;

    public function __construct(
        ResourceConnection $resource,
        IndexerRegistry $indexerRegistry,
        SessionRefresh $sessionRefresh,
        LoggerInterface $logger
    ) {
        $this->resource = $resource;
        $this->indexerRegistry = $indexerRegistry;
        $this->sessionRefresh = $sessionRefresh;
        $this->logger = $logger;
    }

    public function assign(array $assignments)
    {
        $requests = $this->validate($assignments);
        $connection = $this->resource->getConnection();
        $customerTable = $this->resource->getTableName('customer_entity');
        $this->requireGroupsExist(array_values(array_unique(array_column($requests, 'to'))), $requests);

        $ids = array_column($requests, 'customer');
        $changed = [];
        $connection->beginTransaction();
        try {
            // Locking read: nobody can change these rows between this read and the UPDATEs.
            $found = [];
            $rows = $connection->fetchAll(
                sprintf(
                    'SELECT entity_id, group_id FROM %s WHERE entity_id IN (%s) FOR UPDATE',
                    $connection->quoteIdentifier($customerTable),
                    self::placeholders(count($ids))
                ),
                $ids
            );
            foreach ($rows as $row) {
                $found[(int) $row['entity_id']] = (int) $row['group_id'];
            }

            // Per target group: the customers still in their from-group, grouped by that group.
            $plan = [];
            foreach ($requests as $request) {
                $current = $found[$request['customer']] ?? null;
                if ($current === $request['from'] && $request['from'] !== $request['to']) {
                    $plan[$request['to']][$request['from']][] = $request['customer'];
                }
            }
            ksort($plan);
            foreach ($plan as $to => $byFrom) {
                $clauses = [];
                $bind = [$to];
                foreach ($byFrom as $from => $customerIds) {
                    $clauses[] = sprintf('(entity_id IN (%s) AND group_id = ?)', self::placeholders(count($customerIds)));
                    array_push($bind, ...$customerIds);
                    $bind[] = $from;
                }
                $statement = $connection->query(
                    sprintf(
                        'UPDATE %s SET group_id = ? WHERE %s',
                        $connection->quoteIdentifier($customerTable),
                        implode(' OR ', $clauses)
                    ),
                    $bind
                );
                $expected = array_merge(...array_values($byFrom));
                if ($statement->rowCount() !== count($expected)) {
                    // Cannot happen while the rows are locked; refuse rather than report a guess.
                    throw new RuntimeException(sprintf(
                        'customer_entity: %d rows changed for target group %d, %d expected',
                        $statement->rowCount(),
                        $to,
                        count($expected)
                    ));
                }
                array_push($changed, ...$expected);
            }
            $connection->commit();
        } catch (Throwable $e) {
            $connection->rollBack();
            throw $e;
        }

        $warnings = [];
        if ($changed !== []) {
            sort($changed);
            try {
                $this->indexerRegistry->get(self::CUSTOMER_GRID_INDEXER)->reindexList($changed);
            } catch (Throwable $e) {
                // The group changes are committed; the grid shows old groups until the next
                // full reindex (bin/magento indexer:reindex customer_grid).
                $this->logger->error('Segbridge group assignments: customer grid reindex failed: ' . $e->getMessage());
                $warnings[] = sprintf(
                    'The customer grid was not reindexed for %d changed customers (%s); run bin/magento indexer:reindex customer_grid.',
                    count($changed),
                    $e->getMessage()
                );
            }
            $this->sessionRefresh->flag($changed);
        }

        $outcomes = [];
        $changedSet = array_flip($changed);
        foreach ($requests as $request) {
            $id = $request['customer'];
            if (!array_key_exists($id, $found)) {
                $outcomes[] = new GroupAssignmentOutcome($id, Outcome::NOT_FOUND, null);
            } elseif (isset($changedSet[$id]) || ($found[$id] === $request['from'] && $request['from'] === $request['to'])) {
                $outcomes[] = new GroupAssignmentOutcome($id, Outcome::APPLIED, $request['to']);
            } else {
                $outcomes[] = new GroupAssignmentOutcome($id, Outcome::CHANGED_MEANWHILE, $found[$id]);
            }
        }
        return new GroupAssignmentResult($outcomes, $warnings);
    }

    /**
     * The request as plain integers, or an error naming the first bad item.
     *
     * @param mixed[] $assignments
     * @return array<int, array{customer: int, from: int, to: int}>
     * @throws InputException
     */
    private function validate(array $assignments): array
    {
        if ($assignments === []) {
            throw new InputException(new Phrase('"assignments" is empty: send at least one assignment.'));
        }
        if (count($assignments) > self::MAX_ASSIGNMENTS) {
            throw new InputException(new Phrase(
                '"assignments" has %1 items; at most %2 are accepted per request.',
                [count($assignments), self::MAX_ASSIGNMENTS]
            ));
        }
        $requests = [];
        $seen = [];
        foreach (array_values($assignments) as $index => $assignment) {
            if (!$assignment instanceof GroupAssignmentInterface) {
                throw new InputException(new Phrase('assignments[%1] is not an assignment object.', [$index]));
            }
            $customer = self::integer($assignment->getCustomerId(), $index, 'customer_id', 1);
            $from = self::integer($assignment->getFromGroupId(), $index, 'from_group_id', 0);
            $to = self::integer($assignment->getToGroupId(), $index, 'to_group_id', 0);
            if ($to === self::NOT_LOGGED_IN_GROUP_ID) {
                throw new InputException(new Phrase(
                    'assignments[%1].to_group_id is 0 (NOT LOGGED IN), which no customer account can be in.',
                    [$index]
                ));
            }
            if (isset($seen[$customer])) {
                throw new InputException(new Phrase(
                    'assignments[%1].customer_id %2 already appears in assignments[%3]; send one assignment per customer.',
                    [$index, $customer, $seen[$customer]]
                ));
            }
            $seen[$customer] = $index;
            $requests[] = ['customer' => $customer, 'from' => $from, 'to' => $to];
        }
        return $requests;
    }

    /**
     * @param int[] $groupIds
     * @param array<int, array{customer: int, from: int, to: int}> $requests
     * @throws InputException
     */
    private function requireGroupsExist(array $groupIds, array $requests): void
    {
        $connection = $this->resource->getConnection();
        $known = [];
        $rows = $connection->fetchAll(
            sprintf(
                'SELECT customer_group_id FROM %s WHERE customer_group_id IN (%s)',
                $connection->quoteIdentifier($this->resource->getTableName('customer_group')),
                self::placeholders(count($groupIds))
            ),
            $groupIds
        );
        foreach ($rows as $row) {
            $known[(int) $row['customer_group_id']] = true;
        }
        foreach ($requests as $index => $request) {
            if (!isset($known[$request['to']])) {
                // customer_entity.group_id has no foreign key to customer_group: check here.
                throw new InputException(new Phrase(
                    'assignments[%1].to_group_id %2: no customer group has this id; nothing was changed.',
                    [$index, $request['to']]
                ));
            }
        }
    }

    /**
     * @param mixed $value
     * @throws InputException
     */
    private static function integer($value, int $index, string $field, int $min): int
    {
        if ($value === null || $value === '') {
            throw new InputException(new Phrase('assignments[%1].%2 is missing.', [$index, $field]));
        }
        if (is_string($value) && preg_match('/^\d{1,10}$/D', $value)) {
            $value = (int) $value;
        }
        if (!is_int($value) || $value < $min || $value > 4294967295) {
            throw new InputException(new Phrase(
                'assignments[%1].%2 must be a whole number of at least %3, got %4.',
                [$index, $field, $min, is_scalar($value) ? var_export($value, true) : gettype($value)]
            ));
        }
        return $value;
    }

    private static function placeholders(int $count): string
    {
        return implode(', ', array_fill(0, $count, '?'));
    }
}
