<?php
/**
 * A catalog price rule as the module's REST routes read and write it.
 *
 * Magento's own Magento\CatalogRule\Api\Data\RuleInterface has no website, customer
 * group, date or product-condition fields (module-catalog-rule/Api/Data/RuleInterface.php,
 * 2.4.4 to 2.4.8-p1), so a rule for one customer group cannot be written through it; this
 * interface carries them and the module maps them onto the rule model.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api\Data;

interface CatalogRuleInterface
{
    /**
     * Magento's rule id; null on create.
     *
     * @return int|null
     */
    public function getRuleId();

    /**
     * @param int|null $ruleId
     * @return $this
     */
    public function setRuleId($ruleId);

    /**
     * @return string
     */
    public function getName();

    /**
     * @param string $name
     * @return $this
     */
    public function setName($name);

    /**
     * segbridge keeps its marker segbridge:<code>:catalog:<n> here.
     *
     * @return string|null
     */
    public function getDescription();

    /**
     * @param string|null $description
     * @return $this
     */
    public function setDescription($description);

    /**
     * @return bool
     */
    public function getIsActive();

    /**
     * @param bool $isActive
     * @return $this
     */
    public function setIsActive($isActive);

    /**
     * @return int[]
     */
    public function getWebsiteIds();

    /**
     * @param int[] $websiteIds
     * @return $this
     */
    public function setWebsiteIds($websiteIds);

    /**
     * @return int[]
     */
    public function getCustomerGroupIds();

    /**
     * @param int[] $customerGroupIds
     * @return $this
     */
    public function setCustomerGroupIds($customerGroupIds);

    /**
     * YYYY-MM-DD or null (from now on).
     *
     * @return string|null
     */
    public function getFromDate();

    /**
     * @param string|null $fromDate
     * @return $this
     */
    public function setFromDate($fromDate);

    /**
     * YYYY-MM-DD or null (no end).
     *
     * @return string|null
     */
    public function getToDate();

    /**
     * @param string|null $toDate
     * @return $this
     */
    public function setToDate($toDate);

    /**
     * by_percent, by_fixed, to_percent or to_fixed.
     *
     * @return string
     */
    public function getSimpleAction();

    /**
     * @param string $simpleAction
     * @return $this
     */
    public function setSimpleAction($simpleAction);

    /**
     * @return float
     */
    public function getDiscountAmount();

    /**
     * @param float $discountAmount
     * @return $this
     */
    public function setDiscountAmount($discountAmount);

    /**
     * @return bool
     */
    public function getStopRulesProcessing();

    /**
     * @param bool $stopRulesProcessing
     * @return $this
     */
    public function setStopRulesProcessing($stopRulesProcessing);

    /**
     * @return int
     */
    public function getSortOrder();

    /**
     * @param int $sortOrder
     * @return $this
     */
    public function setSortOrder($sortOrder);

    /**
     * Empty: every product; else the rule's only condition is "SKU is one of" these.
     *
     * @return string[]
     */
    public function getSkus();

    /**
     * @param string[] $skus
     * @return $this
     */
    public function setSkus($skus);

    /**
     * Read only: true when the rule's conditions are more than a SKU list (made in the admin); skus is then empty and a PUT replaces those conditions.
     *
     * @return bool
     */
    public function getHasOtherConditions();

    /**
     * @param bool $hasOtherConditions
     * @return $this
     */
    public function setHasOtherConditions($hasOtherConditions);
}
