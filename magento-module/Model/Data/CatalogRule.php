<?php
/**
 * Catalog price rule as the module's REST routes carry it (see the interface).
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model\Data;

use Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface;

class CatalogRule implements CatalogRuleInterface
{
    /** @var mixed */
    private $ruleId;

    /** @var mixed */
    private $name;

    /** @var mixed */
    private $description;

    /** @var mixed */
    private $isActive;

    /** @var mixed */
    private $websiteIds;

    /** @var mixed */
    private $customerGroupIds;

    /** @var mixed */
    private $fromDate;

    /** @var mixed */
    private $toDate;

    /** @var mixed */
    private $simpleAction;

    /** @var mixed */
    private $discountAmount;

    /** @var mixed */
    private $stopRulesProcessing;

    /** @var mixed */
    private $sortOrder;

    /** @var mixed */
    private $skus;

    /** @var mixed */
    private $hasOtherConditions;

    public function getRuleId()
    {
        return $this->ruleId;
    }

    public function setRuleId($ruleId)
    {
        $this->ruleId = $ruleId;
        return $this;
    }

    public function getName()
    {
        return $this->name;
    }

    public function setName($name)
    {
        $this->name = $name;
        return $this;
    }

    public function getDescription()
    {
        return $this->description;
    }

    public function setDescription($description)
    {
        $this->description = $description;
        return $this;
    }

    public function getIsActive()
    {
        return $this->isActive;
    }

    public function setIsActive($isActive)
    {
        $this->isActive = $isActive;
        return $this;
    }

    public function getWebsiteIds()
    {
        return $this->websiteIds;
    }

    public function setWebsiteIds($websiteIds)
    {
        $this->websiteIds = $websiteIds;
        return $this;
    }

    public function getCustomerGroupIds()
    {
        return $this->customerGroupIds;
    }

    public function setCustomerGroupIds($customerGroupIds)
    {
        $this->customerGroupIds = $customerGroupIds;
        return $this;
    }

    public function getFromDate()
    {
        return $this->fromDate;
    }

    public function setFromDate($fromDate)
    {
        $this->fromDate = $fromDate;
        return $this;
    }

    public function getToDate()
    {
        return $this->toDate;
    }

    public function setToDate($toDate)
    {
        $this->toDate = $toDate;
        return $this;
    }

    public function getSimpleAction()
    {
        return $this->simpleAction;
    }

    public function setSimpleAction($simpleAction)
    {
        $this->simpleAction = $simpleAction;
        return $this;
    }

    public function getDiscountAmount()
    {
        return $this->discountAmount;
    }

    public function setDiscountAmount($discountAmount)
    {
        $this->discountAmount = $discountAmount;
        return $this;
    }

    public function getStopRulesProcessing()
    {
        return $this->stopRulesProcessing;
    }

    public function setStopRulesProcessing($stopRulesProcessing)
    {
        $this->stopRulesProcessing = $stopRulesProcessing;
        return $this;
    }

    public function getSortOrder()
    {
        return $this->sortOrder;
    }

    public function setSortOrder($sortOrder)
    {
        $this->sortOrder = $sortOrder;
        return $this;
    }

    public function getSkus()
    {
        return $this->skus;
    }

    public function setSkus($skus)
    {
        $this->skus = $skus;
        return $this;
    }

    public function getHasOtherConditions()
    {
        return $this->hasOtherConditions;
    }

    public function setHasOtherConditions($hasOtherConditions)
    {
        $this->hasOtherConditions = $hasOtherConditions;
        return $this;
    }
}
