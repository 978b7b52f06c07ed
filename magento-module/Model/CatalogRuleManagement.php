<?php
/**
 * Catalog price rules for REST, through Magento's own CatalogRuleRepositoryInterface.
 *
 * Reads and writes go through CatalogRuleRepositoryInterface::get/save
 * (module-catalog-rule/Api/CatalogRuleRepositoryInterface.php:21, :29 in 2.4.4 and 2.4.8-p1);
 * its implementation loads the rule model, and on save of an existing id merges our data
 * into the loaded model (Model/CatalogRuleRepository.php:50) before the resource save, whose
 * relation handlers write website_ids and customer_group_ids (Model/ResourceModel/
 * SaveHandler.php:49-58) and read them back (ReadHandler.php:51-52). Saving an active rule
 * already reindexes that rule's products after commit when the indexer runs "on save"
 * (Model/Rule.php::afterSave, :590-599 in 2.4.4, :602-609 in 2.4.8-p1); apply() is the
 * admin's "Apply Rules" (Model/Rule/Job.php:57: markIndexerAsInvalid, i.e.
 * IndexerInterface::invalidate, framework/Indexer/AbstractProcessor.php:87-89) for stores
 * whose indexers run "on schedule".
 *
 * The search has no repository getList to call; it selects matching ids from the catalogrule
 * table and loads each through the repository, so every item has the same fields as a GET.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model;

use Magento\CatalogRule\Api\CatalogRuleRepositoryInterface;
use Magento\CatalogRule\Model\RuleFactory;
use Magento\Framework\App\ResourceConnection;
use Magento\Framework\Exception\InputException;
use Magento\Framework\Indexer\IndexerRegistry;
use Magento\Framework\Phrase;
use Segbridge\SegmentBlock\Api\CatalogRuleManagementInterface;
use Segbridge\SegmentBlock\Api\Data\CatalogRuleInterface;
use Segbridge\SegmentBlock\Model\Data\CatalogRule;
use Segbridge\SegmentBlock\Model\Data\CatalogRuleSearchResults;

class CatalogRuleManagement implements CatalogRuleManagementInterface
{
    /** Magento\CatalogRule\Model\Indexer\Rule\RuleProductProcessor::INDEXER_ID (:15 / :19). */
    public const INDEXER_ID = 'catalogrule_rule';

    public const ACTIONS = ['by_percent', 'by_fixed', 'to_percent', 'to_fixed'];

    /** @var CatalogRuleRepositoryInterface */
    private $repository;

    /** @var RuleFactory */
    private $ruleFactory;

    /** @var ResourceConnection */
    private $resource;

    /** @var IndexerRegistry */
    private $indexerRegistry;

    /** @var CatalogRuleConditions */
    private $conditions;

    public function __construct(
        CatalogRuleRepositoryInterface $repository,
        RuleFactory $ruleFactory,
        ResourceConnection $resource,
        IndexerRegistry $indexerRegistry,
        CatalogRuleConditions $conditions
    ) {
        $this->repository = $repository;
        $this->ruleFactory = $ruleFactory;
        $this->resource = $resource;
        $this->indexerRegistry = $indexerRegistry;
        $this->conditions = $conditions;
    }

    public function get($ruleId)
    {
        return $this->toData($this->repository->get($this->ruleId($ruleId)));
    }

    public function create(CatalogRuleInterface $rule)
    {
        if ($rule->getRuleId() !== null && $rule->getRuleId() !== '') {
            throw new InputException(new Phrase(
                'rule.rule_id is set (%1): to change an existing rule use PUT /V1/segbridge/catalogRules/%1.',
                [$rule->getRuleId()]
            ));
        }
        $model = $this->ruleFactory->create();
        $this->fill($model, $rule);
        $saved = $this->repository->save($model);
        return $this->toData($this->repository->get((int) $saved->getRuleId()));
    }

    public function update($ruleId, CatalogRuleInterface $rule)
    {
        $id = $this->ruleId($ruleId);
        if ($rule->getRuleId() !== null && $rule->getRuleId() !== '' && (int) $rule->getRuleId() !== $id) {
            throw new InputException(new Phrase(
                'rule.rule_id %1 differs from the rule %2 in the URL.',
                [$rule->getRuleId(), $id]
            ));
        }
        $model = $this->repository->get($id);
        $this->fill($model, $rule);
        $this->repository->save($model);
        return $this->toData($this->repository->get($id));
    }

    public function getList(\Magento\Framework\Api\SearchCriteriaInterface $searchCriteria)
    {
        $sql = new SearchCriteriaSql([
            'rule_id' => ['rule_id', SearchCriteriaSql::INT],
            'name' => ['name', SearchCriteriaSql::TEXT],
            'description' => ['description', SearchCriteriaSql::TEXT],
            'is_active' => ['is_active', SearchCriteriaSql::INT],
            'from_date' => ['from_date', SearchCriteriaSql::DATE],
            'to_date' => ['to_date', SearchCriteriaSql::DATE],
            'simple_action' => ['simple_action', SearchCriteriaSql::TEXT],
            'sort_order' => ['sort_order', SearchCriteriaSql::INT],
        ]);
        [$where, $bind] = $sql->where($searchCriteria);
        [$limit, $offset] = $sql->page($searchCriteria);
        $orderBy = $sql->orderBy($searchCriteria, ['rule_id']);
        $connection = $this->resource->getConnection();
        $table = $connection->quoteIdentifier($this->resource->getTableName('catalogrule'));
        $whereSql = $where === '' ? '' : ' WHERE ' . $where;
        $total = (int) $connection->fetchAll("SELECT COUNT(*) AS n FROM $table$whereSql", $bind)[0]['n'];
        $rows = $connection->fetchAll(
            "SELECT rule_id FROM $table$whereSql ORDER BY " . $orderBy . sprintf(' LIMIT %d OFFSET %d', $limit, $offset),
            $bind
        );
        $items = [];
        foreach ($rows as $row) {
            $items[] = $this->toData($this->repository->get((int) $row['rule_id']));
        }
        return new CatalogRuleSearchResults($items, $total);
    }

    public function apply()
    {
        $this->indexerRegistry->get(self::INDEXER_ID)->invalidate();
        return true;
    }

    /**
     * @param mixed $ruleId
     * @throws InputException
     */
    private function ruleId($ruleId): int
    {
        if (is_int($ruleId) || (is_string($ruleId) && preg_match('/^\d{1,10}$/D', $ruleId))) {
            if ((int) $ruleId > 0) {
                return (int) $ruleId;
            }
        }
        throw new InputException(new Phrase('ruleId must be a whole number of at least 1.'));
    }

    /**
     * Validate every field, then copy them onto Magento's rule model.
     *
     * @param \Magento\CatalogRule\Model\Rule $model
     * @throws InputException
     */
    private function fill($model, CatalogRuleInterface $rule): void
    {
        $name = trim((string) $rule->getName());
        if ($name === '' || strlen($name) > 255) {
            throw new InputException(new Phrase('rule.name must be 1 to 255 characters.'));
        }
        $action = (string) $rule->getSimpleAction();
        if (!in_array($action, self::ACTIONS, true)) {
            throw new InputException(new Phrase(
                'rule.simple_action "%1" is not one of %2.',
                [$action, implode(', ', self::ACTIONS)]
            ));
        }
        $amount = $rule->getDiscountAmount();
        if (!is_numeric($amount) || (float) $amount < 0
            || (in_array($action, ['by_percent', 'to_percent'], true) && (float) $amount > 100)) {
            throw new InputException(new Phrase(
                'rule.discount_amount must be a number from 0%1.',
                [in_array($action, ['by_percent', 'to_percent'], true) ? ' to 100 for ' . $action : '']
            ));
        }
        $websites = self::ids($rule->getWebsiteIds(), 'rule.website_ids', 1);
        $groups = self::ids($rule->getCustomerGroupIds(), 'rule.customer_group_ids', 0);
        $from = self::date($rule->getFromDate(), 'rule.from_date');
        $to = self::date($rule->getToDate(), 'rule.to_date');
        if ($from !== null && $to !== null && $to < $from) {
            throw new InputException(new Phrase('rule.to_date %1 is before rule.from_date %2.', [$to, $from]));
        }
        $skus = [];
        foreach ((array) ($rule->getSkus() ?? []) as $i => $sku) {
            $sku = is_scalar($sku) ? trim((string) $sku) : '';
            if ($sku === '' || strpbrk($sku, ',;') !== false) {
                throw new InputException(new Phrase(
                    'rule.skus[%1] must be a non-empty SKU without "," or ";" (Magento splits the list on them).',
                    [$i]
                ));
            }
            $skus[] = $sku;
        }
        $sortOrder = $rule->getSortOrder();
        if ($sortOrder !== null && $sortOrder !== '' && !preg_match('/^\d{1,9}$/D', (string) $sortOrder)) {
            throw new InputException(new Phrase('rule.sort_order must be a whole number of at least 0.'));
        }

        $model->setName($name);
        $model->setDescription($rule->getDescription() === null ? null : (string) $rule->getDescription());
        $model->setIsActive($rule->getIsActive() ? 1 : 0);
        $model->setData('website_ids', $websites);
        $model->setData('customer_group_ids', $groups);
        $model->setData('from_date', $from);
        $model->setData('to_date', $to);
        $model->setSimpleAction($action);
        $model->setDiscountAmount((float) $amount);
        $model->setStopRulesProcessing($rule->getStopRulesProcessing() ? 1 : 0);
        $model->setSortOrder((int) $sortOrder);
        // As the admin's save does (module-rule/Model/AbstractModel.php:320, loadPost): replace
        // the conditions object's children; beforeSave serializes it (:140-151).
        $model->getConditions()->setConditions([])->loadArray($this->conditions->fromSkus($skus));
    }

    /**
     * @param \Magento\CatalogRule\Model\Rule $model
     */
    private function toData($model): CatalogRuleInterface
    {
        $skus = $this->conditions->toSkus((array) $model->getConditions()->asArray());
        $from = $model->getData('from_date');
        $to = $model->getData('to_date');
        return (new CatalogRule())
            ->setRuleId((int) $model->getRuleId())
            ->setName((string) $model->getName())
            ->setDescription($model->getDescription() === null ? null : (string) $model->getDescription())
            ->setIsActive((bool) $model->getIsActive())
            ->setWebsiteIds(self::storedIds($model->getData('website_ids')))
            ->setCustomerGroupIds(self::storedIds($model->getData('customer_group_ids')))
            ->setFromDate($from ? substr((string) $from, 0, 10) : null)
            ->setToDate($to ? substr((string) $to, 0, 10) : null)
            ->setSimpleAction((string) $model->getSimpleAction())
            ->setDiscountAmount((float) $model->getDiscountAmount())
            ->setStopRulesProcessing((bool) $model->getStopRulesProcessing())
            ->setSortOrder((int) $model->getSortOrder())
            ->setSkus($skus ?? [])
            ->setHasOtherConditions($skus === null);
    }

    /**
     * @param mixed $value
     * @return int[]
     * @throws InputException
     */
    private static function ids($value, string $field, int $min): array
    {
        $ids = [];
        foreach (is_array($value) ? $value : [] as $i => $id) {
            if (!(is_int($id) || (is_string($id) && preg_match('/^\d{1,10}$/D', $id))) || (int) $id < $min) {
                throw new InputException(new Phrase('%1[%2] must be a whole number of at least %3.', [$field, $i, $min]));
            }
            $ids[] = (int) $id;
        }
        if ($ids === []) {
            throw new InputException(new Phrase('%1 must list at least one id.', [$field]));
        }
        return array_values(array_unique($ids));
    }

    /**
     * @param mixed $value
     * @throws InputException
     */
    private static function date($value, string $field): ?string
    {
        if ($value === null || $value === '') {
            return null;
        }
        $text = is_scalar($value) ? (string) $value : '';
        $parsed = \DateTime::createFromFormat('!Y-m-d', $text);
        if ($parsed === false || $parsed->format('Y-m-d') !== $text) {
            throw new InputException(new Phrase('%1 "%2" is not a date YYYY-MM-DD.', [$field, $text]));
        }
        return $text;
    }

    /**
     * website_ids / customer_group_ids as the read handler leaves them (array, or a
     * comma-separated string on older code paths).
     *
     * @param mixed $value
     * @return int[]
     */
    private static function storedIds($value): array
    {
        $list = is_array($value) ? $value : preg_split('/\s*,\s*/', (string) $value, -1, PREG_SPLIT_NO_EMPTY);
        $ids = array_map('intval', $list ?: []);
        sort($ids);
        return array_values(array_unique($ids));
    }
}
