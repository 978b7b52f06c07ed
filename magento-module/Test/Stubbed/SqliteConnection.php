<?php
/**
 * Stands in for Magento's MySQL adapter (Magento\Framework\DB\Adapter\AdapterInterface) with
 * an in-memory SQLite database, so the module's SQL really runs in the tests.
 *
 * Only the adapter methods the module calls: fetchAll, query, quoteIdentifier and the
 * transaction methods (AdapterInterface.php:85-99, :532, :544, :660 in 2.4.4 and 2.4.8-p1).
 * SQLite has no row locks: "FOR UPDATE" is counted and removed before the query runs.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Stubbed;

use PDO;
use PDOStatement;

final class SqliteConnection
{
    /** @var PDO */
    public $pdo;

    /** @var string[] every statement run, in order */
    public $log = [];

    /** @var int */
    public $lockingReads = 0;

    /** @var int */
    public $commits = 0;

    /** @var int */
    public $rollbacks = 0;

    /** @var callable(string): void|null called before each statement (to inject a failure or a concurrent write) */
    public $beforeStatement;

    public function __construct()
    {
        $this->pdo = new PDO('sqlite::memory:');
        $this->pdo->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
    }

    public function exec(string $sql): void
    {
        $this->pdo->exec($sql);
    }

    public function beginTransaction()
    {
        $this->pdo->beginTransaction();
        return $this;
    }

    public function commit()
    {
        $this->pdo->commit();
        $this->commits++;
        return $this;
    }

    public function rollBack()
    {
        if ($this->pdo->inTransaction()) {
            $this->pdo->rollBack();
        }
        $this->rollbacks++;
        return $this;
    }

    public function quoteIdentifier($ident, $auto = false)
    {
        return '`' . str_replace('`', '``', (string) $ident) . '`';
    }

    public function query($sql, $bind = []): PDOStatement
    {
        if (preg_match('/\sFOR UPDATE$/', $sql)) {
            $this->lockingReads++;
            $sql = (string) preg_replace('/\sFOR UPDATE$/', '', $sql);
        }
        if ($this->beforeStatement !== null) {
            ($this->beforeStatement)($sql);
        }
        $this->log[] = $sql;
        $statement = $this->pdo->prepare($sql);
        $statement->execute(array_values($bind));
        return $statement;
    }

    public function fetchAll($sql, $bind = [], $fetchMode = null)
    {
        return $this->query($sql, $bind)->fetchAll(PDO::FETCH_ASSOC);
    }

    /** @return array<int, array<string, mixed>> */
    public function rows(string $sql): array
    {
        return $this->pdo->query($sql)->fetchAll(PDO::FETCH_ASSOC);
    }
}
