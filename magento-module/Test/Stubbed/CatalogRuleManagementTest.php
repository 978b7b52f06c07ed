<?php
/**
 * Catalog price rules through the repository: create, read back, read-modify-write, the
 * SKU condition in Magento's conditions array form, search, apply, and refused input.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Stubbed;

use Magento\CatalogRule\Api\CatalogRuleRepositoryInterface;
use Magento\CatalogRule\Model\Rule;
use Magento\CatalogRule\Model\RuleFactory;
use Magento\Framework\Api\SearchCriteria;
use Magento\Framework\App\ResourceConnection;
use Magento\Framework\Exception\InputException;
use Magento\Framework\Exception\NoSuchEntityException;
use Magento\Framework\Indexer\IndexerRegistry;
use Magento\Framework\Phrase;
use PHPUnit\Framework\TestCase;
use Segbridge\SegmentBlock\Model\CatalogRuleConditions;
use Segbridge\SegmentBlock\Model\CatalogRuleManagement;
use Segbridge\SegmentBlock\Model\Data\CatalogRule;

final class CatalogRuleManagementTest extends TestCase
{
    /** @var SqliteConnection */
    private $db;

    /** @var IndexerRegistry */
    private $indexers;

    /** @var CatalogRuleRepositoryInterface&object{saved: array<int, array<string, mixed>>, saves: int} */
    private $repository;

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
        $this->db->exec('CREATE TABLE catalogrule (rule_id INTEGER PRIMARY KEY, name TEXT, description TEXT,
            is_active INTEGER, from_date TEXT, to_date TEXT, simple_action TEXT, sort_order INTEGER)');
        $db = $this->db;
        // Stores what a save writes and hands out a freshly "loaded" model on get, as the
        // real repository does after save (it forgets its cached copy).
        $this->repository = new class ($db) implements CatalogRuleRepositoryInterface {
            /** @var SqliteConnection */
            private $db;

            /** @var array<int, array<string, mixed>> */
            public $saved = [];

            /** @var int */
            public $saves = 0;

            public function __construct(SqliteConnection $db)
            {
                $this->db = $db;
            }

            public function save(Rule $rule)
            {
                $this->saves++;
                $data = $rule->getData();
                $data['conditions_array'] = $rule->getConditions()->asArray();
                $id = (int) ($data['rule_id'] ?? 0) ?: (count($this->saved) + 1);
                $data['rule_id'] = $id;
                $this->saved[$id] = $data;
                $this->db->query('DELETE FROM catalogrule WHERE rule_id = ?', [$id]);
                $this->db->query('INSERT INTO catalogrule VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
                    $id, $data['name'], $data['description'], $data['is_active'], $data['from_date'],
                    $data['to_date'], $data['simple_action'], $data['sort_order'],
                ]);
                $rule->setData('rule_id', $id);
                return $rule;
            }

            public function get($ruleId)
            {
                if (!isset($this->saved[(int) $ruleId])) {
                    throw new NoSuchEntityException(new Phrase(
                        'The rule with the "%1" ID wasn\'t found. Verify the ID and try again.',
                        [$ruleId]
                    ));
                }
                return new Rule($this->saved[(int) $ruleId]);
            }
        };
        $this->indexers = new IndexerRegistry();
    }

    private function service(): CatalogRuleManagement
    {
        return new CatalogRuleManagement(
            $this->repository,
            new RuleFactory(),
            new ResourceConnection($this->db),
            $this->indexers,
            new CatalogRuleConditions()
        );
    }

    private static function vipRule(): CatalogRule
    {
        return (new CatalogRule())
            ->setName('VIP prices')
            ->setDescription('segbridge:vip:catalog:0')
            ->setIsActive(true)
            ->setWebsiteIds([1])
            ->setCustomerGroupIds(['5'])
            ->setFromDate('2026-12-01')
            ->setSimpleAction('by_percent')
            ->setDiscountAmount(5)
            ->setStopRulesProcessing(false)
            ->setSkus(['MB01', 'MB02']);
    }

    public function testCreateWritesEveryFieldAndTheSkuConditionAndReadsItBack(): void
    {
        $created = $this->service()->create(self::vipRule());

        self::assertSame(1, $created->getRuleId());
        self::assertSame('VIP prices', $created->getName());
        self::assertSame('segbridge:vip:catalog:0', $created->getDescription());
        self::assertTrue($created->getIsActive());
        self::assertSame([1], $created->getWebsiteIds());
        self::assertSame([5], $created->getCustomerGroupIds());
        self::assertSame('2026-12-01', $created->getFromDate());
        self::assertNull($created->getToDate());
        self::assertSame('by_percent', $created->getSimpleAction());
        self::assertSame(5.0, $created->getDiscountAmount());
        self::assertSame(['MB01', 'MB02'], $created->getSkus());
        self::assertFalse($created->getHasOtherConditions());

        $stored = $this->repository->saved[1];
        self::assertSame([1], $stored['website_ids']);
        self::assertSame([5], $stored['customer_group_ids']);
        self::assertSame(1, $stored['is_active']);
        self::assertSame([
            'type' => CatalogRuleConditions::COMBINE, 'attribute' => null, 'operator' => null, 'value' => '1',
            'is_value_processed' => null, 'aggregator' => 'all',
            'conditions' => [[
                'type' => CatalogRuleConditions::PRODUCT, 'attribute' => 'sku', 'operator' => '()',
                'value' => 'MB01, MB02', 'is_value_processed' => false,
            ]],
        ], $stored['conditions_array']);
    }

    public function testUpdateReplacesTheFieldsOfTheStoredRule(): void
    {
        $service = $this->service();
        $service->create(self::vipRule());
        $changed = $service->get(1)->setIsActive(false)->setSkus([])->setDiscountAmount('7.5');

        $updated = $service->update('1', $changed);

        self::assertFalse($updated->getIsActive());
        self::assertSame([], $updated->getSkus());
        self::assertSame(7.5, $updated->getDiscountAmount());
        self::assertArrayNotHasKey('conditions', $this->repository->saved[1]['conditions_array']);
        self::assertSame(2, $this->repository->saves);
    }

    public function testAdminMadeConditionsAreFlaggedNotMisreadAsEveryProduct(): void
    {
        $this->repository->saved[9] = [
            'rule_id' => 9, 'name' => 'Hand made', 'is_active' => 1, 'website_ids' => '1,2',
            'customer_group_ids' => [1], 'simple_action' => 'to_fixed', 'discount_amount' => '10.0000',
            'conditions_array' => [
                'type' => CatalogRuleConditions::COMBINE, 'aggregator' => 'all', 'value' => '1',
                'conditions' => [['type' => CatalogRuleConditions::PRODUCT, 'attribute' => 'category_ids',
                    'operator' => '==', 'value' => '3']],
            ],
        ];
        $rule = $this->service()->get(9);
        self::assertTrue($rule->getHasOtherConditions());
        self::assertSame([], $rule->getSkus());
        self::assertSame([1, 2], $rule->getWebsiteIds());
    }

    public function testUnknownRuleIs404(): void
    {
        $this->expectException(NoSuchEntityException::class);
        $this->expectExceptionMessage('The rule with the "4" ID wasn\'t found');
        $this->service()->update(4, self::vipRule());
    }

    /**
     * @return array<string, array{0: callable(CatalogRule): CatalogRule, 1: string}>
     */
    public function badRules(): array
    {
        return [
            'no name' => [static function (CatalogRule $r): CatalogRule {
                return $r->setName(' ');
            }, 'rule.name must be 1 to 255 characters.'],
            'cart action' => [static function (CatalogRule $r): CatalogRule {
                return $r->setSimpleAction('cart_fixed');
            }, 'rule.simple_action "cart_fixed" is not one of by_percent, by_fixed, to_percent, to_fixed.'],
            'percent over 100' => [static function (CatalogRule $r): CatalogRule {
                return $r->setDiscountAmount(120);
            }, 'rule.discount_amount must be a number from 0 to 100 for by_percent.'],
            'no website' => [static function (CatalogRule $r): CatalogRule {
                return $r->setWebsiteIds([]);
            }, 'rule.website_ids must list at least one id.'],
            'bad group' => [static function (CatalogRule $r): CatalogRule {
                return $r->setCustomerGroupIds([5, 'vip']);
            }, 'rule.customer_group_ids[1] must be a whole number of at least 0.'],
            'bad date' => [static function (CatalogRule $r): CatalogRule {
                return $r->setToDate('2026-02-30');
            }, 'rule.to_date "2026-02-30" is not a date YYYY-MM-DD.'],
            'end before start' => [static function (CatalogRule $r): CatalogRule {
                return $r->setToDate('2026-11-01');
            }, 'rule.to_date 2026-11-01 is before rule.from_date 2026-12-01.'],
            'sku with comma' => [static function (CatalogRule $r): CatalogRule {
                return $r->setSkus(['MB01', 'A,B']);
            }, 'rule.skus[1] must be a non-empty SKU without "," or ";"'],
            'id on create' => [static function (CatalogRule $r): CatalogRule {
                return $r->setRuleId(3);
            }, 'rule.rule_id is set (3): to change an existing rule use PUT /V1/segbridge/catalogRules/3.'],
        ];
    }

    /**
     * @dataProvider badRules
     */
    public function testBadRuleIsRefusedNamingTheFieldAndNothingIsSaved(callable $spoil, string $message): void
    {
        try {
            $this->service()->create($spoil(self::vipRule()));
            self::fail('expected an InputException');
        } catch (InputException $e) {
            self::assertStringContainsString($message, $e->getMessage());
        }
        self::assertSame(0, $this->repository->saves);
    }

    public function testSearchFiltersPagesAndCountsThroughTheTable(): void
    {
        $service = $this->service();
        foreach (['a', 'b', 'c'] as $n => $code) {
            $service->create(self::vipRule()->setName("Rule $code")->setDescription("segbridge:$code:catalog:0"));
        }
        $service->create(self::vipRule()->setName('Manual')->setDescription('by hand'));

        $page = $service->getList(SearchCriteria::of([[['description', 'segbridge:%', 'like']]], [], 2, 2));

        self::assertSame(3, $page->getTotalCount());
        self::assertSame(['Rule c'], array_map(static function ($r) {
            return $r->getName();
        }, $page->getItems()));
        self::assertSame([5], $page->getItems()[0]->getCustomerGroupIds());

        $this->expectException(InputException::class);
        $this->expectExceptionMessage('filter_groups[0][filters][0]: field "conditions_serialized" cannot be filtered on');
        $service->getList(SearchCriteria::of([[['conditions_serialized', '%sku%', 'like']]]));
    }

    public function testApplyInvalidatesTheCatalogRuleIndexer(): void
    {
        self::assertTrue($this->service()->apply());
        self::assertSame(1, $this->indexers->get('catalogrule_rule')->invalidated);
    }
}
