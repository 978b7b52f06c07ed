<?php
/**
 * The module's declaration files agree with each other and with the code.
 *
 * Magento only reports a mismatch here (a widget class that does not exist, a fallback
 * option the chooser rejects, a module name that differs between registration.php and
 * module.xml) at setup:upgrade time or as an empty widget on the storefront.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Test\Unit;

use DOMDocument;
use DOMElement;
use DOMXPath;
use PHPUnit\Framework\TestCase;
use Segbridge\SegmentBlock\Model\IdentifierChooser;

final class ConfigFilesTest extends TestCase
{
    private const MODULE = 'Segbridge_SegmentBlock';
    private const WIDGET_CLASS = 'Segbridge\\SegmentBlock\\Block\\Widget\\SegmentBlock';

    private static function root(): string
    {
        return dirname(__DIR__, 2);
    }

    private static function xml(string $relative): DOMXPath
    {
        $path = self::root() . '/' . $relative;
        $document = new DOMDocument();
        $previous = libxml_use_internal_errors(true);
        $loaded = $document->load($path);
        $errors = array_map(static function ($error): string {
            return trim($error->message) . ' (line ' . $error->line . ')';
        }, libxml_get_errors());
        libxml_clear_errors();
        libxml_use_internal_errors($previous);
        self::assertTrue($loaded && $errors === [], $relative . ' is not well-formed: ' . implode('; ', $errors));
        return new DOMXPath($document);
    }

    public function testComposerPackageIsAMagentoModuleAutoloadingRegistration(): void
    {
        $composer = json_decode((string) file_get_contents(self::root() . '/composer.json'), true);
        self::assertIsArray($composer, 'composer.json is not valid JSON');
        self::assertSame('segbridge/module-segment-block', $composer['name']);
        self::assertSame('magento2-module', $composer['type']);
        self::assertSame(['registration.php'], $composer['autoload']['files']);
        self::assertSame(['Segbridge\\SegmentBlock\\' => ''], $composer['autoload']['psr-4']);
        $needed = ['magento/framework', 'magento/module-cms', 'magento/module-customer', 'magento/module-widget'];
        foreach ($needed as $package) {
            self::assertArrayHasKey($package, $composer['require']);
        }
    }

    public function testRegistrationAndModuleXmlNameTheSameModule(): void
    {
        $registration = (string) file_get_contents(self::root() . '/registration.php');
        self::assertStringContainsString("'" . self::MODULE . "'", $registration);

        $xpath = self::xml('etc/module.xml');
        self::assertSame(self::MODULE, $xpath->evaluate('string(/config/module/@name)'));
        $sequence = [];
        foreach ($xpath->query('/config/module/sequence/module/@name') as $attribute) {
            $sequence[] = $attribute->nodeValue;
        }
        foreach (['Magento_Cms', 'Magento_Widget', 'Magento_Customer'] as $dependency) {
            self::assertContains($dependency, $sequence);
        }
    }

    public function testWidgetPointsAtTheBlockClassFile(): void
    {
        $xpath = self::xml('etc/widget.xml');
        self::assertSame(1, $xpath->query('/widgets/widget')->length);
        self::assertSame(self::WIDGET_CLASS, $xpath->evaluate('string(/widgets/widget/@class)'));
        self::assertSame('Segment block', $xpath->evaluate('string(/widgets/widget/label)'));

        // PSR-4: the class must live where composer's autoloader will look for it.
        $relative = substr(self::WIDGET_CLASS, strlen('Segbridge\\SegmentBlock\\'));
        $file = self::root() . '/' . str_replace('\\', '/', $relative) . '.php';
        self::assertFileExists($file);
        $source = (string) file_get_contents($file);
        self::assertMatchesRegularExpression('/^namespace Segbridge\\\\SegmentBlock\\\\Block\\\\Widget;$/m', $source);
        self::assertMatchesRegularExpression(
            '/^class SegmentBlock extends AbstractBlock implements BlockInterface, IdentityInterface$/m',
            $source
        );
    }

    public function testWidgetParametersMatchWhatTheChooserAccepts(): void
    {
        $xpath = self::xml('etc/widget.xml');
        $xsi = 'http://www.w3.org/2001/XMLSchema-instance';

        $slot = $xpath->query('/widgets/widget/parameters/parameter[@name="slot"]')->item(0);
        self::assertInstanceOf(DOMElement::class, $slot);
        self::assertSame('text', $slot->getAttributeNS($xsi, 'type'));
        self::assertSame('true', $slot->getAttribute('required'));

        $fallback = $xpath->query('/widgets/widget/parameters/parameter[@name="fallback"]')->item(0);
        self::assertInstanceOf(DOMElement::class, $fallback);
        self::assertSame('select', $fallback->getAttributeNS($xsi, 'type'));
        $values = [];
        $selected = [];
        foreach ($xpath->query('options/option', $fallback) as $option) {
            /** @var DOMElement $option */
            $values[] = $option->getAttribute('value');
            if ($option->getAttribute('selected') === 'true') {
                $selected[] = $option->getAttribute('value');
            }
        }
        self::assertSame([IdentifierChooser::FALLBACK_DEFAULT, IdentifierChooser::FALLBACK_NONE], $values);
        self::assertSame([IdentifierChooser::FALLBACK_DEFAULT], $selected);

        $chooser = new IdentifierChooser();
        foreach ($values as $value) {
            self::assertSame($value, $chooser->normaliseFallback($value));
        }
    }

    /**
     * The PHP file a module class lives in (PSR-4), or null for a class outside the module.
     */
    private static function classFile(string $class): ?string
    {
        $prefix = 'Segbridge\\SegmentBlock\\';
        if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
            return null;
        }
        return self::root() . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    }

    public function testEveryRouteNeedsTheModuleResourceAndCallsADeclaredMethod(): void
    {
        $acl = self::xml('etc/acl.xml');
        self::assertSame(1, $acl->query('//resource[@id="Segbridge_SegmentBlock::api"]')->length);

        $routes = self::xml('etc/webapi.xml');
        $seen = [];
        foreach ($routes->query('/routes/route') as $route) {
            /** @var DOMElement $route */
            $key = $route->getAttribute('method') . ' ' . $route->getAttribute('url');
            self::assertNotContains($key, $seen, 'route declared twice');
            $seen[] = $key;
            $refs = [];
            foreach ($routes->query('resources/resource/@ref', $route) as $ref) {
                $refs[] = $ref->nodeValue;
            }
            self::assertSame(['Segbridge_SegmentBlock::api'], $refs, $key);

            $class = $routes->evaluate('string(service/@class)', $route);
            $method = $routes->evaluate('string(service/@method)', $route);
            $file = self::classFile($class);
            self::assertNotNull($file, "$key: service $class is not the module's");
            self::assertFileExists($file, $key);
            self::assertMatchesRegularExpression(
                '/^\s*public function ' . preg_quote($method, '/') . '\(/m',
                (string) file_get_contents($file),
                "$key: $class has no method $method"
            );
            preg_match_all('/:(\w+)/', $route->getAttribute('url'), $params);
            foreach ($params[1] as $param) {
                self::assertMatchesRegularExpression(
                    '/function ' . preg_quote($method, '/') . '\([^)]*\$' . $param . '\b/',
                    (string) file_get_contents($file),
                    "$key: URL parameter :$param is not a parameter of $method"
                );
            }
        }
        self::assertCount(9, $seen);
    }

    public function testEveryApiInterfaceHasAPreferenceToAClassImplementingIt(): void
    {
        $di = self::xml('etc/di.xml');
        $preferences = [];
        foreach ($di->query('/config/preference') as $preference) {
            /** @var DOMElement $preference */
            $preferences[$preference->getAttribute('for')] = $preference->getAttribute('type');
        }
        $interfaces = [];
        foreach (array_merge(glob(self::root() . '/Api/*.php'), glob(self::root() . '/Api/Data/*.php')) as $file) {
            $relative = substr($file, strlen(self::root()) + 1, -4);
            $interfaces[] = 'Segbridge\\SegmentBlock\\' . str_replace('/', '\\', $relative);
        }
        sort($interfaces);
        $declared = array_keys($preferences);
        sort($declared);
        self::assertSame($interfaces, $declared);
        foreach ($preferences as $interface => $class) {
            $file = self::classFile($class);
            self::assertNotNull($file);
            self::assertFileExists($file, $class);
            $short = substr($interface, strrpos($interface, '\\') + 1);
            self::assertMatchesRegularExpression(
                '/^class \w+ implements ' . preg_quote($short, '/') . '$/m',
                (string) file_get_contents($file),
                "$class implements $interface"
            );
            self::assertStringContainsString('use ' . $interface . ';', (string) file_get_contents($file));
        }
    }
}
