<?php
/**
 * SKU lists to and from the conditions array of a Magento catalog rule.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Unit\Model;

use PHPUnit\Framework\TestCase;
use Segbridge\SegmentBlock\Model\CatalogRuleConditions;

final class CatalogRuleConditionsTest extends TestCase
{
    public function testNoSkusIsTheBareCombineThatMatchesEveryProduct(): void
    {
        $conditions = new CatalogRuleConditions();
        $array = $conditions->fromSkus([]);
        self::assertSame(CatalogRuleConditions::COMBINE, $array['type']);
        self::assertSame('all', $array['aggregator']);
        self::assertSame('1', $array['value']);
        self::assertArrayNotHasKey('conditions', $array);
        self::assertSame([], $conditions->toSkus($array));
    }

    public function testSkusRoundTrip(): void
    {
        $conditions = new CatalogRuleConditions();
        $array = $conditions->fromSkus(['MB01', 'WS-12 blue', 'X']);
        self::assertSame('MB01, WS-12 blue, X', $array['conditions'][0]['value']);
        self::assertSame('()', $array['conditions'][0]['operator']);
        self::assertSame(['MB01', 'WS-12 blue', 'X'], $conditions->toSkus($array));
    }

    public function testMagentoSplitsOnSemicolonsToo(): void
    {
        $array = (new CatalogRuleConditions())->fromSkus(['A']);
        $array['conditions'][0]['value'] = 'A;B , C';
        self::assertSame(['A', 'B', 'C'], (new CatalogRuleConditions())->toSkus($array));
    }

    /**
     * @return array<string, array{0: callable(array): array}>
     */
    public function otherConditions(): array
    {
        return [
            'category condition' => [static function (array $a): array {
                $a['conditions'][0]['attribute'] = 'category_ids';
                return $a;
            }],
            'sku equals' => [static function (array $a): array {
                $a['conditions'][0]['operator'] = '==';
                return $a;
            }],
            'any instead of all' => [static function (array $a): array {
                $a['aggregator'] = 'any';
                return $a;
            }],
            'false instead of true' => [static function (array $a): array {
                $a['value'] = '0';
                return $a;
            }],
            'two conditions' => [static function (array $a): array {
                $a['conditions'][] = $a['conditions'][0];
                return $a;
            }],
            'nested combine' => [static function (array $a): array {
                $a['conditions'][0] = ['type' => CatalogRuleConditions::COMBINE, 'aggregator' => 'all',
                    'value' => '1', 'conditions' => [$a['conditions'][0]]];
                return $a;
            }],
        ];
    }

    /**
     * @dataProvider otherConditions
     */
    public function testAnythingButOneSkuListIsNotASkuList(callable $change): void
    {
        $conditions = new CatalogRuleConditions();
        self::assertNull($conditions->toSkus($change($conditions->fromSkus(['MB01']))));
    }
}
