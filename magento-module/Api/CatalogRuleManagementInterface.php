<?php
/**
 * GET/POST/PUT /V1/segbridge/catalogRules[/:ruleId], GET .../search and POST .../apply:
 * catalog price rules through Magento's CatalogRuleRepositoryInterface, which core REST
 * does not expose.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Api;

interface CatalogRuleManagementInterface
{
    /**
     * @param int $ruleId
     * @return \Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface
     * @throws \Magento\Framework\Exception\NoSuchEntityException
     */
    public function get($ruleId);

    /**
     * @param \Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface $rule
     * @return \Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface
     * @throws \Magento\Framework\Exception\InputException
     */
    public function create(\Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface $rule);

    /**
     * Replaces every field of the rule (read-modify-write: GET it first).
     *
     * @param int $ruleId
     * @param \Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface $rule
     * @return \Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface
     * @throws \Magento\Framework\Exception\InputException
     * @throws \Magento\Framework\Exception\NoSuchEntityException
     */
    public function update($ruleId, \Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface $rule);

    /**
     * @param \Magento\Framework\Api\SearchCriteriaInterface $searchCriteria
     * @return \Segbridge\SegmentBlock\Api\Data\CatalogRuleSearchResultsInterface
     * @throws \Magento\Framework\Exception\InputException
     */
    public function getList(\Magento\Framework\Api\SearchCriteriaInterface $searchCriteria);

    /**
     * Marks the catalogrule_rule indexer invalid, as the admin's "Apply Rules" button does;
     * Magento's indexer cron then rebuilds the rule prices.
     *
     * @return bool
     */
    public function apply();
}
