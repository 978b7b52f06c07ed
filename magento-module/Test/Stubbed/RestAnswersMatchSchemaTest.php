<?php
/**
 * Real answers of the services, turned into JSON the way Magento's REST output does it
 * (each getter of the declared data interface becomes a snake_case key, null values are
 * left out: framework/Reflection/DataObjectProcessor.php:81-96 in 2.4.4, :90-111 in
 * 2.4.8-p1), validate against etc/segbridge-rest-schema.json. So the schema that
 * segbridge's sandbox is checked against describes what a store really answers.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Stubbed;

use Magento\Catalog\Model\ResourceModel\Product\CollectionFactory;
use Magento\Customer\Model\Customer\NotificationStorage;
use Magento\Framework\Api\SearchCriteria;
use Magento\Framework\App\Config\ScopeConfig;
use Magento\Framework\App\ResourceConnection;
use Magento\Framework\Indexer\IndexerRegistry;
use Magento\Framework\Module\Manager;
use PHPUnit\Framework\TestCase;
use ReflectionClass;
use Segbridge\SegmentBlock\Model\ActivityReader;
use Segbridge\SegmentBlock\Model\CatalogRuleConditions;
use Segbridge\SegmentBlock\Model\CatalogRuleManagement;
use Segbridge\SegmentBlock\Model\Data\GroupAssignment;
use Segbridge\SegmentBlock\Model\GroupAssignmentManagement;
use Segbridge\SegmentBlock\Model\Info;
use Segbridge\SegmentBlock\Model\ProductViews;
use Segbridge\SegmentBlock\Model\SessionRefresh;

final class RestAnswersMatchSchemaTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        if (!defined('SEGBRIDGE_MAGENTO_STAND_INS')
            && class_exists(\Magento\Framework\App\ResourceConnection::class, true)
        ) {
            self::markTestSkipped('real Magento classes are present; the stand-ins are for Magento-free runs');
        }
        require_once __DIR__ . '/ApiStandIns.php';
    }

    /** @return array<string, mixed> */
    private static function schema(): array
    {
        return json_decode((string) file_get_contents(dirname(__DIR__, 2) . '/etc/segbridge-rest-schema.json'), true);
    }

    /**
     * Magento's output conversion, reduced to what the module's interfaces use.
     *
     * @return mixed
     */
    private static function toJson(object $object, string $interface)
    {
        $out = [];
        foreach ((new ReflectionClass($interface))->getMethods() as $method) {
            if (!preg_match('/^get(\w+)$/', $method->getName(), $m) || $method->getNumberOfParameters() > 0) {
                continue;
            }
            $value = $object->{$method->getName()}();
            if ($value === null) {
                continue;
            }
            preg_match('/@return\s+(\S+)/', (string) $method->getDocComment(), $type);
            $type = str_replace('|null', '', $type[1]);
            if (substr($type, -2) === '[]' && interface_exists(substr($type, 0, -2))) {
                $value = array_map(static function (object $item) use ($type) {
                    return self::toJson($item, substr($type, 0, -2));
                }, $value);
            } elseif (interface_exists($type)) {
                $value = self::toJson($value, $type);
            }
            $out[strtolower((string) preg_replace('/(?<!^)[A-Z]/', '_$0', $m[1]))] = $value;
        }
        return $out;
    }

    /**
     * A JSON Schema subset: $ref, type, const, enum, required, properties,
     * additionalProperties, items, minimum, maximum, minItems, maxItems, pattern.
     *
     * @param mixed $value
     * @param array<string, mixed> $schema
     * @param string[] $problems
     */
    private static function validate($value, array $schema, string $path, array &$problems): void
    {
        if (isset($schema['$ref'])) {
            $schema = self::schema()['$defs'][substr($schema['$ref'], strlen('#/$defs/'))];
        }
        $types = (array) ($schema['type'] ?? []);
        if ($types !== []) {
            $actual = is_array($value) ? (array_keys($value) === range(0, count($value) - 1) && $value !== [] ? 'array' : (($schema['type'] ?? '') === 'array' ? 'array' : 'object'))
                : (is_bool($value) ? 'boolean' : (is_int($value) ? 'integer' : (is_float($value) ? 'number' : (is_string($value) ? 'string' : 'null'))));
            $ok = in_array($actual, $types, true) || ($actual === 'integer' && in_array('number', $types, true));
            if (!$ok) {
                $problems[] = "$path: $actual, expected " . implode('|', $types);
                return;
            }
        }
        if (array_key_exists('const', $schema) && $value !== $schema['const']) {
            $problems[] = "$path: not the constant";
        }
        if (isset($schema['enum']) && !in_array($value, $schema['enum'], true)) {
            $problems[] = "$path: " . json_encode($value) . ' not in the enum';
        }
        if (isset($schema['minimum']) && is_numeric($value) && $value < $schema['minimum']) {
            $problems[] = "$path: below minimum";
        }
        if (isset($schema['maximum']) && is_numeric($value) && $value > $schema['maximum']) {
            $problems[] = "$path: above maximum";
        }
        if (isset($schema['pattern']) && is_string($value) && !preg_match('~' . $schema['pattern'] . '~u', $value)) {
            $problems[] = "$path: does not match " . $schema['pattern'];
        }
        if (is_array($value) && isset($schema['items'])) {
            if (isset($schema['minItems']) && count($value) < $schema['minItems']) {
                $problems[] = "$path: too few items";
            }
            foreach ($value as $i => $item) {
                self::validate($item, $schema['items'], "{$path}[$i]", $problems);
            }
        }
        if (is_array($value) && isset($schema['properties'])) {
            foreach ($schema['required'] ?? [] as $name) {
                if (!array_key_exists($name, $value)) {
                    $problems[] = "$path: $name missing";
                }
            }
            foreach ($value as $name => $item) {
                if (!isset($schema['properties'][$name])) {
                    if (($schema['additionalProperties'] ?? true) === false) {
                        $problems[] = "$path: unexpected $name";
                    }
                    continue;
                }
                self::validate($item, $schema['properties'][$name], "$path.$name", $problems);
            }
        }
    }

    /** @param mixed $json */
    private static function assertMatches($json, string $definition): void
    {
        $problems = [];
        self::validate($json, ['$ref' => '#/$defs/' . $definition], $definition, $problems);
        self::assertSame([], $problems, (string) json_encode($json));
    }

    public function testTheValidatorCatchesADifference(): void
    {
        $problems = [];
        self::validate(
            ['customer_id' => 1, 'status' => 'done', 'extra' => 1],
            ['$ref' => '#/$defs/GroupAssignmentOutcome'],
            'x',
            $problems
        );
        self::assertSame(['x.status: "done" not in the enum', 'x: unexpected extra'], $problems);
    }

    public function testInfo(): void
    {
        $info = (new Info(new Manager(['Magento_Reports']), new ScopeConfig([])))->get();
        self::assertMatches(self::toJson($info, \Segbridge\SegmentBlock\Api\Data\InfoInterface::class), 'Info');
    }

    public function testGroupAssignmentAnswerWithEveryStatus(): void
    {
        $db = new SqliteConnection();
        $db->exec('CREATE TABLE customer_group (customer_group_id INTEGER PRIMARY KEY)');
        $db->exec('CREATE TABLE customer_entity (entity_id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL)');
        $db->exec('INSERT INTO customer_group VALUES (1), (5)');
        $db->exec('INSERT INTO customer_entity VALUES (1, 1), (2, 5)');
        $logger = new class implements \Psr\Log\LoggerInterface {
            public function warning($message, array $context = [])
            {
            }

            public function error($message, array $context = [])
            {
            }
        };
        $registry = new IndexerRegistry();
        $registry->get('customer_grid')->failWith = new \RuntimeException('locked');
        $result = (new GroupAssignmentManagement(
            new ResourceConnection($db),
            $registry,
            new SessionRefresh(new NotificationStorage()),
            $logger
        ))->assign([new GroupAssignment(1, 1, 5), new GroupAssignment(2, 1, 5), new GroupAssignment(3, 1, 5)]);

        $json = self::toJson($result, \Segbridge\SegmentBlock\Api\Data\GroupAssignmentResultInterface::class);
        self::assertSame(['customer_id' => 3, 'status' => 'not_found'], $json['results'][2]);
        self::assertMatches($json, 'GroupAssignmentResult');
    }

    public function testProductViewsWithAMissingProduct(): void
    {
        $db = new SqliteConnection();
        $db->exec('CREATE TABLE report_viewed_product_index (index_id INTEGER PRIMARY KEY, customer_id INTEGER,
            product_id INTEGER, store_id INTEGER, added_at TEXT)');
        $db->exec("INSERT INTO report_viewed_product_index VALUES (1, 7, 100, 1, '2026-11-01 10:00:00'),
            (2, 7, 555, NULL, '2026-11-01 11:00:00')");
        $products = new CollectionFactory();
        $products->products = [100 => ['sku' => 'MB01', 'name' => 'Bag', 'price' => '34.000000']];
        $page = (new ProductViews(new ActivityReader(new ResourceConnection($db), $products)))->getList(SearchCriteria::of());

        $json = self::toJson($page, \Segbridge\SegmentBlock\Api\Data\ActivitySearchResultsInterface::class);
        self::assertSame(['id' => 2, 'customer_id' => 7, 'product_id' => 555, 'added_at' => '2026-11-01 11:00:00'], $json['items'][1]);
        self::assertMatches($json, 'ActivitySearchResults');
    }

    public function testCatalogRuleAndItsSearchPage(): void
    {
        $db = new SqliteConnection();
        $db->exec('CREATE TABLE catalogrule (rule_id INTEGER PRIMARY KEY, name TEXT, description TEXT)');
        $db->exec("INSERT INTO catalogrule VALUES (4, 'VIP prices', NULL)");
        $repository = new class implements \Magento\CatalogRule\Api\CatalogRuleRepositoryInterface {
            public function save(\Magento\CatalogRule\Model\Rule $rule)
            {
                return $rule;
            }

            public function get($ruleId)
            {
                // As Magento's read handler leaves a loaded rule: ids as an array, decimals
                // and flags as the strings MySQL returns, no description.
                return new \Magento\CatalogRule\Model\Rule([
                    'rule_id' => '4', 'name' => 'VIP prices', 'is_active' => '1', 'website_ids' => ['1'],
                    'customer_group_ids' => ['5'], 'from_date' => '2026-12-01', 'to_date' => null,
                    'simple_action' => 'by_percent', 'discount_amount' => '5.0000', 'stop_rules_processing' => '0',
                    'sort_order' => '0', 'conditions_array' => (new CatalogRuleConditions())->fromSkus(['MB01']),
                ]);
            }
        };
        $service = new CatalogRuleManagement(
            $repository,
            new \Magento\CatalogRule\Model\RuleFactory(),
            new ResourceConnection($db),
            new IndexerRegistry(),
            new CatalogRuleConditions()
        );

        $rule = self::toJson($service->get(4), \Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface::class);
        self::assertArrayNotHasKey('description', $rule);
        self::assertSame(5.0, $rule['discount_amount']);
        self::assertMatches($rule, 'CatalogRule');

        $page = $service->getList(SearchCriteria::of());
        self::assertMatches(
            self::toJson($page, \Segbridge\SegmentBlock\Api\Data\CatalogRuleSearchResultsInterface::class),
            'CatalogRuleSearchResults'
        );
    }
}
