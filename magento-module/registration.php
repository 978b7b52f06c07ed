<?php
/**
 * Registers the Segbridge_SegmentBlock module with Magento's component registrar.
 *
 * Loaded by composer ("autoload.files") so the module is found wherever composer put it,
 * including a path repository outside the Magento tree.
 */
declare(strict_types=1);

use Magento\Framework\Component\ComponentRegistrar;

ComponentRegistrar::register(ComponentRegistrar::MODULE, 'Segbridge_SegmentBlock', __DIR__);
