<?php
/**
 * GET /V1/segbridge/info: the module's name, version and the parts this store can serve.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model;

use Magento\Framework\App\Config\ScopeConfigInterface;
use Magento\Framework\Module\Manager as ModuleManager;
use Segbridge\SegmentBlock\Api\GroupAssignmentManagementInterface;
use Segbridge\SegmentBlock\Api\InfoInterface;
use Segbridge\SegmentBlock\Model\Data\Info as InfoData;

class Info implements InfoInterface
{
    public const MODULE = 'Segbridge_SegmentBlock';

    /** Kept equal to composer.json's "version" (a unit test checks it). */
    public const VERSION = '0.2.0';

    /**
     * Parts that read another Magento module's tables or services, with that module.
     * Magento\Framework\Module\Manager::isEnabled (framework/Module/Manager.php:62 in 2.4.4,
     * :63 in 2.4.8-p1) answers from app/etc/config.php.
     */
    private const OPTIONAL_FEATURES = [
        'catalog_rules' => 'Magento_CatalogRule',
        'wishlist_items' => 'Magento_Wishlist',
        'product_views' => 'Magento_Reports',
    ];

    /**
     * Magento records product views (report_viewed_product_index) only while both flags are
     * on: Magento\Reports\Observer\CatalogProductViewObserver::execute returns early unless
     * ReportStatus::isReportEnabled (Observer/CatalogProductViewObserver.php:79,
     * Model/ReportStatus.php:42-43/:56), and "reports/options/enabled" defaults to 0
     * (module-reports etc/config.xml:23), 2.4.4 to 2.4.8-p1.
     */
    private const PRODUCT_VIEW_FLAGS = ['reports/options/enabled', 'reports/options/product_view_enabled'];

    /** @var ModuleManager */
    private $moduleManager;

    /** @var ScopeConfigInterface */
    private $scopeConfig;

    public function __construct(ModuleManager $moduleManager, ScopeConfigInterface $scopeConfig)
    {
        $this->moduleManager = $moduleManager;
        $this->scopeConfig = $scopeConfig;
    }

    public function get()
    {
        $features = ['group_assignments', 'session_refresh'];
        foreach (self::OPTIONAL_FEATURES as $feature => $module) {
            if ($this->moduleManager->isEnabled($module)) {
                $features[] = $feature;
            }
        }
        $recorded = in_array('product_views', $features, true);
        foreach (self::PRODUCT_VIEW_FLAGS as $path) {
            $recorded = $recorded && $this->scopeConfig->isSetFlag($path);
        }
        return new InfoData(
            self::MODULE,
            self::VERSION,
            $features,
            GroupAssignmentManagementInterface::MAX_ASSIGNMENTS,
            $recorded
        );
    }
}
