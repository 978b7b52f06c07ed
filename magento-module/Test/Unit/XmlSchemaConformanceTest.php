<?php
/**
 * Every XML file under etc/ uses only the elements and attributes that Magento's XSD for
 * that file allows, with the required attributes present and the restricted values valid.
 *
 * Magento validates these files against its XSDs at setup:upgrade and cache rebuild time,
 * where a mistake takes the whole store down. The allowed sets below were read from the
 * XSDs in Magento Open Source 2.4.4 and 2.4.8-p1 (magento-2.4.4 and magento-2.4.8-p1
 * branches of controlaltdelete-nl/magento2-code-tracker); module.xsd, widget.xsd,
 * webapi.xsd, webapi_base.xsd and ObjectManager config.xsd are byte-identical from 2.4.4
 * to 2.4.8-p1, acl.xsd differs only in a documentation sentence. They are written out by
 * hand here (Magento's XSD files are not copied), limited to what each XSD allows for the
 * elements this module can meaningfully use; an element the table does not know fails.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Unit;

use DOMDocument;
use DOMElement;
use PHPUnit\Framework\TestCase;

final class XmlSchemaConformanceTest extends TestCase
{
    private const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

    /**
     * Per file: the schema URN, the root element and its type, and per element type the
     * attributes (name => required) and the child elements (name => type). "text" marks
     * simple content.
     *
     * @return array<string, array{urn: string, root: array{0: string, 1: string}, types: array<string, array{attributes?: array<string, bool>, children?: array<string, string>, text?: bool}>}>
     */
    private static function schemas(): array
    {
        $objectManager = [
            // framework/ObjectManager/etc/config.xsd: config (:63-80) is a choice of
            // preference, type, virtualType; preferenceType :121-128; typeType :131-148
            // (arguments, plugin; name, shared); virtualTypeType :150-160 adds type;
            // pluginType :163-168. "arguments" (argumentsType, Data/etc/argument/types.xsd)
            // is left out on purpose: this module passes no constructor arguments.
            'urn' => 'urn:magento:framework:ObjectManager/etc/config.xsd',
            'root' => ['config', 'config'],
            'types' => [
                'config' => ['children' => ['preference' => 'preference', 'type' => 'type', 'virtualType' => 'virtualType']],
                'preference' => ['attributes' => ['for' => true, 'type' => true]],
                'type' => ['attributes' => ['name' => true, 'shared' => false], 'children' => ['plugin' => 'plugin']],
                'virtualType' => [
                    'attributes' => ['name' => true, 'shared' => false, 'type' => false],
                    'children' => ['plugin' => 'plugin'],
                ],
                'plugin' => ['attributes' => ['name' => true, 'type' => false, 'disabled' => false, 'sortOrder' => false]],
            ],
        ];
        return [
            'etc/module.xml' => [
                // framework/Module/etc/module.xsd :9-65
                'urn' => 'urn:magento:framework:Module/etc/module.xsd',
                'root' => ['config', 'config'],
                'types' => [
                    'config' => ['children' => ['module' => 'moduleDeclaration']],
                    'moduleDeclaration' => [
                        'attributes' => ['name' => true, 'setup_version' => false],
                        'children' => ['sequence' => 'moduleSequence'],
                    ],
                    'moduleSequence' => ['children' => ['module' => 'sequenceModule']],
                    'sequenceModule' => ['attributes' => ['name' => true]],
                ],
            ],
            'etc/widget.xml' => [
                // module-widget/etc/widget.xsd :15-216 (parameter xsi:types text, select,
                // multiselect, block, conditions; their extras are checked separately)
                'urn' => 'urn:magento:module:Magento_Widget:etc/widget.xsd',
                'root' => ['widgets', 'widgets'],
                'types' => [
                    'widgets' => ['children' => ['widget' => 'widgetType']],
                    'widgetType' => [
                        'attributes' => [
                            'id' => true, 'class' => true, 'is_email_compatible' => false,
                            'placeholder_image' => false, 'ttl' => false,
                        ],
                        'children' => [
                            'label' => 'translatable', 'description' => 'translatable',
                            'parameters' => 'parameters', 'containers' => 'containers',
                        ],
                    ],
                    'translatable' => ['attributes' => ['translate' => false], 'text' => true],
                    'parameters' => ['children' => ['parameter' => 'parameter']],
                    'parameter' => [
                        'attributes' => [
                            'name' => true, 'xsi:type' => true, 'visible' => false, 'sort_order' => false,
                            'required' => false, 'source_model' => false, 'class' => false,
                        ],
                        'children' => [
                            'label' => 'translatable', 'description' => 'translatable', 'depends' => 'depends',
                            'value' => 'translatable', 'options' => 'options', 'block' => 'blockType',
                        ],
                    ],
                    'options' => ['children' => ['option' => 'option']],
                    'option' => [
                        'attributes' => ['name' => true, 'value' => true, 'selected' => false],
                        'children' => ['label' => 'translatable'],
                    ],
                    'depends' => ['children' => ['parameter' => 'dependsParameter']],
                    'dependsParameter' => ['attributes' => ['name' => true, 'value' => true]],
                    'blockType' => ['attributes' => ['class' => true], 'children' => ['data' => 'data']],
                    'data' => ['children' => ['item' => 'item']],
                    'item' => ['attributes' => ['name' => true], 'text' => true],
                    'containers' => ['children' => ['container' => 'container']],
                    'container' => ['attributes' => ['name' => true], 'children' => ['template' => 'template']],
                    'template' => ['attributes' => ['name' => true, 'value' => true]],
                ],
            ],
            'etc/webapi.xml' => [
                // module-webapi/etc/webapi.xsd :12-19 extends webapi_base.xsd :11-69
                'urn' => 'urn:magento:module:Magento_Webapi:etc/webapi.xsd',
                'root' => ['routes', 'routes'],
                'types' => [
                    'routes' => ['children' => ['route' => 'route']],
                    'route' => [
                        'attributes' => ['method' => true, 'url' => true, 'secure' => false, 'soapOperation' => false],
                        'children' => ['service' => 'service', 'resources' => 'resources', 'data' => 'data'],
                    ],
                    'service' => ['attributes' => ['class' => true, 'method' => true]],
                    'resources' => ['children' => ['resource' => 'resource']],
                    'resource' => ['attributes' => ['ref' => true]],
                    'data' => [
                        'attributes' => ['input-array-size-limit' => false],
                        'children' => ['parameter' => 'parameter'],
                    ],
                    'parameter' => ['attributes' => ['name' => true, 'force' => false], 'text' => true],
                ],
            ],
            'etc/acl.xml' => [
                // framework/Acl/etc/acl.xsd :9-55 (aclResource is recursive)
                'urn' => 'urn:magento:framework:Acl/etc/acl.xsd',
                'root' => ['config', 'config'],
                'types' => [
                    'config' => ['children' => ['acl' => 'acl']],
                    'acl' => ['children' => ['resources' => 'resources']],
                    'resources' => ['children' => ['resource' => 'aclResource']],
                    'aclResource' => [
                        'attributes' => [
                            'id' => true, 'title' => false, 'translate' => false,
                            'sortOrder' => false, 'disabled' => false,
                        ],
                        'children' => ['resource' => 'aclResource'],
                    ],
                ],
            ],
            'etc/di.xml' => $objectManager,
            'etc/frontend/di.xml' => $objectManager,
        ];
    }

    private static function root(): string
    {
        return dirname(__DIR__, 2);
    }

    private static function load(string $relative): DOMDocument
    {
        $document = new DOMDocument();
        $previous = libxml_use_internal_errors(true);
        $loaded = $document->load(self::root() . '/' . $relative);
        $errors = libxml_get_errors();
        libxml_clear_errors();
        libxml_use_internal_errors($previous);
        self::assertTrue($loaded && $errors === [], $relative . ' is not well-formed');
        return $document;
    }

    public function testEveryXmlFileUnderEtcHasASchemaInThisTest(): void
    {
        $files = [];
        $iterator = new \RecursiveIteratorIterator(new \RecursiveDirectoryIterator(self::root() . '/etc'));
        foreach ($iterator as $file) {
            if ($file->isFile() && substr($file->getFilename(), -4) === '.xml') {
                $files[] = substr($file->getPathname(), strlen(self::root()) + 1);
            }
        }
        sort($files);
        $known = array_keys(self::schemas());
        sort($known);
        self::assertSame($known, $files);
    }

    /**
     * @return array<string, array{0: string}>
     */
    public function files(): array
    {
        $cases = [];
        foreach (array_keys(self::schemas()) as $file) {
            $cases[$file] = [$file];
        }
        return $cases;
    }

    /**
     * @dataProvider files
     */
    public function testOnlyElementsAndAttributesTheXsdAllows(string $file): void
    {
        $schema = self::schemas()[$file];
        $document = self::load($file);
        $root = $document->documentElement;
        self::assertSame($schema['root'][0], $root->localName, "$file: root element");
        self::assertSame($schema['urn'], $root->getAttributeNS(self::XSI, 'noNamespaceSchemaLocation'), "$file: schema");
        $problems = [];
        self::walk($root, $schema['root'][1], $schema['types'], $file, $problems, true);
        self::assertSame([], $problems);
    }

    /**
     * @param array<string, array{attributes?: array<string, bool>, children?: array<string, string>, text?: bool}> $types
     * @param string[] $problems
     */
    private static function walk(DOMElement $element, string $type, array $types, string $file, array &$problems, bool $isRoot): void
    {
        $definition = $types[$type];
        $allowed = $definition['attributes'] ?? [];
        $where = $file . ':' . $element->getLineNo() . ' <' . $element->nodeName . '>';
        foreach ($element->attributes as $attribute) {
            $name = $attribute->namespaceURI === self::XSI ? 'xsi:' . $attribute->localName : $attribute->nodeName;
            if ($isRoot && $name === 'xsi:noNamespaceSchemaLocation') {
                continue;
            }
            if (!array_key_exists($name, $allowed)) {
                $problems[] = "$where: attribute $name is not allowed";
            }
        }
        foreach ($allowed as $name => $required) {
            $present = strncmp($name, 'xsi:', 4) === 0
                ? $element->hasAttributeNS(self::XSI, substr($name, 4))
                : $element->hasAttribute($name);
            if ($required && !$present) {
                $problems[] = "$where: required attribute $name is missing";
            }
        }
        $children = $definition['children'] ?? [];
        foreach ($element->childNodes as $child) {
            if ($child instanceof DOMElement) {
                if (!isset($children[$child->nodeName])) {
                    $problems[] = "$where: child <{$child->nodeName}> is not allowed";
                    continue;
                }
                self::walk($child, $children[$child->nodeName], $types, $file, $problems, false);
            } elseif ($child->nodeType === XML_TEXT_NODE && trim($child->nodeValue) !== '' && empty($definition['text'])) {
                $problems[] = "$where: text content is not allowed";
            }
        }
    }

    public function testRestrictedValues(): void
    {
        // webapi_base.xsd :20-29: method is GET, PUT, POST or DELETE; resourceType :46-54.
        $webapi = self::load('etc/webapi.xml');
        foreach ($webapi->getElementsByTagName('route') as $route) {
            self::assertContains($route->getAttribute('method'), ['GET', 'PUT', 'POST', 'DELETE']);
            self::assertMatchesRegularExpression('#^/V1/#', $route->getAttribute('url'));
        }
        foreach ($webapi->getElementsByTagName('resource') as $resource) {
            self::assertMatchesRegularExpression('/^.+(, ?.+)*$/D', $resource->getAttribute('ref'));
        }
        foreach ($webapi->getElementsByTagName('data') as $data) {
            if ($data->hasAttribute('input-array-size-limit')) {
                self::assertMatchesRegularExpression('/^\d+$/D', $data->getAttribute('input-array-size-limit'));
            }
        }

        // acl.xsd :57-79: typeId pattern; typeTitle 3 to 50 characters; sortOrder xs:int.
        $acl = self::load('etc/acl.xml');
        $ids = [];
        foreach ($acl->getElementsByTagName('resource') as $resource) {
            $ids[] = $resource->getAttribute('id');
            self::assertMatchesRegularExpression(
                '/^([A-Z]+[a-zA-Z0-9]{1,}){1,}_[A-Z]+[A-Z0-9a-z]{1,}::[A-Za-z_0-9]{1,}$/D',
                $resource->getAttribute('id')
            );
            if ($resource->hasAttribute('title')) {
                $length = strlen($resource->getAttribute('title'));
                self::assertTrue($length >= 3 && $length <= 50, 'ACL title length ' . $length);
            }
            if ($resource->hasAttribute('sortOrder')) {
                self::assertMatchesRegularExpression('/^-?\d+$/D', $resource->getAttribute('sortOrder'));
            }
        }
        self::assertSame(count($ids), count(array_unique($ids)), 'acl.xsd :21-29: ids are unique');

        // widget.xsd :91-172: which extras each parameter xsi:type has.
        $extras = [
            'text' => ['value'], 'select' => ['options', 'source_model'], 'multiselect' => ['options', 'source_model'],
            'block' => ['block'], 'conditions' => ['class'],
        ];
        $widget = self::load('etc/widget.xml');
        foreach ((new \DOMXPath($widget))->query('/widgets/widget/parameters/parameter') as $parameter) {
            /** @var DOMElement $parameter */
            $type = $parameter->getAttributeNS(self::XSI, 'type');
            self::assertArrayHasKey($type, $extras, 'widget parameter xsi:type');
            foreach (['value', 'options', 'block'] as $child) {
                if ($parameter->getElementsByTagName($child)->length > 0) {
                    self::assertContains($child, $extras[$type], "<$child> in a $type parameter");
                }
            }
            foreach (['source_model', 'class'] as $attribute) {
                if ($parameter->hasAttribute($attribute)) {
                    self::assertContains($attribute, $extras[$type], "$attribute on a $type parameter");
                }
            }
            foreach (['visible'] as $boolean) {
                if ($parameter->hasAttribute($boolean)) {
                    self::assertContains($parameter->getAttribute($boolean), ['true', 'false', '1', '0']);
                }
            }
        }

        // config.xsd :163-168: plugin sortOrder is xs:int, disabled xs:boolean.
        foreach (['etc/di.xml', 'etc/frontend/di.xml'] as $file) {
            foreach (self::load($file)->getElementsByTagName('plugin') as $plugin) {
                if ($plugin->hasAttribute('sortOrder')) {
                    self::assertMatchesRegularExpression('/^-?\d+$/D', $plugin->getAttribute('sortOrder'));
                }
            }
        }
    }

    public function testTheCheckerRejectsWhatTheXsdRejects(): void
    {
        // The walker itself can fail: an unknown attribute, a missing required one, an
        // unknown child, text where none is allowed.
        $document = new DOMDocument();
        $document->loadXML(
            '<routes><route url="/V1/x" verb="GET"><service class="A"/><oops/>text</route></routes>'
        );
        $problems = [];
        self::walk($document->documentElement, 'routes', self::schemas()['etc/webapi.xml']['types'], 'x.xml', $problems, true);
        self::assertSame([
            'x.xml:1 <route>: attribute verb is not allowed',
            'x.xml:1 <route>: required attribute method is missing',
            'x.xml:1 <service>: required attribute method is missing',
            'x.xml:1 <route>: child <oops> is not allowed',
            'x.xml:1 <route>: text content is not allowed',
        ], $problems);
    }
}
