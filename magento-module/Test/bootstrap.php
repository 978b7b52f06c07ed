<?php
/**
 * PHPUnit bootstrap for running the module's pure-PHP tests without Magento or composer.
 *
 * Maps the module namespace onto this directory (what composer's PSR-4 entry does in a
 * Magento install). Only Magento-free classes can be loaded this way, which is the point:
 * the identifier choice is tested on its own.
 */
declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    $prefix = 'Segbridge\\SegmentBlock\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $file = dirname(__DIR__) . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
