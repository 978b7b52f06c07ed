<?php
/**
 * etc/segbridge-rest-schema.json describes exactly what the module serves: the same routes
 * as etc/webapi.xml, and for every body the same fields as the data interface behind it,
 * required exactly when the getter cannot answer null (Magento leaves null values out of
 * REST answers). segbridge's sandbox is checked against this file, so a drift here would
 * let the sandbox and a real store disagree.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Unit;

use DOMDocument;
use DOMElement;
use PHPUnit\Framework\TestCase;
use Segbridge\SegmentBlock\Model\Info;

final class RestSchemaFileTest extends TestCase
{
    /** Nullable in the interface (a create request has none) but always set in an answer. */
    private const ALWAYS_ANSWERED = ['rule_id'];

    private static function root(): string
    {
        return dirname(__DIR__, 2);
    }

    /** @return array<string, mixed> */
    private static function schema(): array
    {
        $schema = json_decode((string) file_get_contents(self::root() . '/etc/segbridge-rest-schema.json'), true);
        self::assertIsArray($schema, 'etc/segbridge-rest-schema.json is not valid JSON');
        return $schema;
    }

    /**
     * Getters (or setters) of a module interface: snake_case field => whether null is possible.
     *
     * @return array<string, bool>
     */
    private static function accessors(string $interface, string $prefix): array
    {
        $relative = str_replace('\\', '/', substr($interface, strlen('Segbridge\\SegmentBlock\\')));
        $source = (string) file_get_contents(self::root() . '/' . $relative . '.php');
        preg_match_all(
            '#/\*\*((?:(?!\*/).)*)\*/\s*public function ' . $prefix . '(\w+)\(#s',
            $source,
            $matches,
            PREG_SET_ORDER
        );
        $fields = [];
        foreach ($matches as [, $doc, $name]) {
            $field = strtolower((string) preg_replace('/(?<!^)[A-Z]/', '_$0', $name));
            $nullable = (bool) preg_match('/@(?:return|param)\s+\S*\bnull\b/', $doc);
            $fields[$field] = $nullable;
        }
        self::assertNotSame([], $fields, "no {$prefix}ters found in $interface");
        return $fields;
    }

    public function testSameRoutesAsWebapiXml(): void
    {
        $document = new DOMDocument();
        $document->load(self::root() . '/etc/webapi.xml');
        $declared = [];
        foreach ($document->getElementsByTagName('route') as $route) {
            /** @var DOMElement $route */
            $service = $route->getElementsByTagName('service')->item(0);
            $declared[] = $route->getAttribute('method') . ' ' . $route->getAttribute('url') . ' '
                . $service->getAttribute('class') . '::' . $service->getAttribute('method');
        }
        $described = array_map(static function (array $route): string {
            return $route['method'] . ' ' . $route['url'] . ' ' . $route['service'];
        }, self::schema()['routes']);
        sort($declared);
        sort($described);
        self::assertSame($declared, $described);
    }

    public function testVersionAndAclMatchTheModule(): void
    {
        $schema = self::schema();
        self::assertSame(Info::VERSION, $schema['version']);
        self::assertSame('Segbridge_SegmentBlock::api', $schema['acl_resource']);
    }

    public function testEveryReferenceResolves(): void
    {
        $schema = self::schema();
        $json = (string) json_encode($schema);
        preg_match_all('~"\$ref":"#\\\\/\$defs\\\\/(\w+)"~', $json, $refs);
        self::assertNotSame([], $refs[1]);
        foreach (array_unique($refs[1]) as $name) {
            self::assertArrayHasKey($name, $schema['$defs']);
        }
    }

    /**
     * @return array<string, array{0: array<string, mixed>, 1: string}>
     */
    public function bodies(): array
    {
        $cases = [];
        $walk = static function (array $node, string $path) use (&$walk, &$cases): void {
            if (isset($node['x-interface'])) {
                $cases[$path] = [$node, $path];
            }
            foreach ($node['properties'] ?? [] as $name => $child) {
                if (is_array($child)) {
                    $walk($child, "$path.$name");
                }
            }
        };
        foreach (self::schema()['$defs'] as $name => $definition) {
            $walk($definition, $name);
        }
        return $cases;
    }

    /**
     * @dataProvider bodies
     * @param array<string, mixed> $definition
     */
    public function testBodyHasTheInterfacesFieldsRequiredWhenNeverNull(array $definition, string $path): void
    {
        $interface = $definition['x-interface'];
        $properties = array_keys($definition['properties']);
        sort($properties);
        if (($definition['x-direction'] ?? 'answer') === 'request') {
            // Magento's input processor accepts every field with a setter (read-only ones are
            // ignored by the service), so a request may carry exactly those.
            $setters = array_keys(self::accessors($interface, 'set'));
            sort($setters);
            self::assertSame($setters, $properties, "$path: fields of $interface");
            return;
        }
        $getters = self::accessors($interface, 'get');
        $fields = array_keys($getters);
        sort($fields);
        self::assertSame($fields, $properties, "$path: fields of $interface");
        $required = array_keys(array_filter($getters, static function (bool $nullable, string $field): bool {
            return !$nullable || in_array($field, self::ALWAYS_ANSWERED, true);
        }, ARRAY_FILTER_USE_BOTH));
        sort($required);
        $declared = $definition['required'];
        sort($declared);
        self::assertSame($required, $declared, "$path: required = getters that never answer null");
        self::assertFalse($definition['additionalProperties'], "$path: closed");
    }
}
