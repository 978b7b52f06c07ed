<?php
/**
 * Gives a logged-in shopper their new customer group on their next storefront request that
 * reaches Magento, not only on their next POST.
 *
 * Magento flags a customer whose account changed (NotificationStorage, see
 * Model/SessionRefresh.php), but its own consumer of the flag,
 * Magento\Customer\Model\Plugin\CustomerNotification::beforeExecute
 * (module-customer/Model/Plugin/CustomerNotification.php:90-94 in 2.4.4, :107-115 in
 * 2.4.8-p1), acts on POST requests only. Until then the session keeps the old group, and the
 * HTTP context that Magento\Customer\Model\App\Action\ContextPlugin::beforeExecute builds from
 * Session::getCustomerGroupId (Model/App/Action/ContextPlugin.php:47-51) keeps the old
 * X-Magento-Vary, so cached pages, prices and segment blocks stay those of the old group.
 *
 * This plugin runs on the same ActionInterface::execute, frontend only, with sortOrder 5:
 * after core's notification plugin (no sortOrder) and before the context plugin (sortOrder
 * 10, module-customer etc/frontend/di.xml:25). On a request that is not a POST, for a flagged
 * customer, it puts the group stored in Magento into the session. It leaves the flag in
 * place: core's plugin still does its full refresh (new session id, customer data) at the
 * next POST and removes the flag then. Pages served whole from the full page cache or
 * Varnish never reach an action; the refresh happens on the first one that does (cart,
 * checkout, account pages, any page not yet cached for that group).
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Plugin;

use Magento\Customer\Api\CustomerRepositoryInterface;
use Magento\Customer\Model\Session;
use Magento\Framework\App\ActionInterface;
use Magento\Framework\App\HttpRequestInterface;
use Magento\Framework\App\RequestInterface;
use Magento\Framework\Exception\NoSuchEntityException;
use Psr\Log\LoggerInterface;
use Segbridge\SegmentBlock\Model\SessionRefresh;

class RefreshCustomerSessionGroup
{
    /** @var Session */
    private $session;

    /** @var SessionRefresh */
    private $sessionRefresh;

    /** @var CustomerRepositoryInterface */
    private $customerRepository;

    /** @var RequestInterface */
    private $request;

    /** @var LoggerInterface */
    private $logger;

    public function __construct(
        Session $session,
        SessionRefresh $sessionRefresh,
        CustomerRepositoryInterface $customerRepository,
        RequestInterface $request,
        LoggerInterface $logger
    ) {
        $this->session = $session;
        $this->sessionRefresh = $sessionRefresh;
        $this->customerRepository = $customerRepository;
        $this->request = $request;
        $this->logger = $logger;
    }

    /**
     * @SuppressWarnings(PHPMD.UnusedFormalParameter)
     */
    public function beforeExecute(ActionInterface $subject): void
    {
        $customerId = (int) $this->session->getCustomerId();
        if ($customerId <= 0) {
            return;
        }
        if ($this->request instanceof HttpRequestInterface && $this->request->isPost()) {
            return; // Magento's own CustomerNotification plugin refreshes the whole session.
        }
        if (!$this->sessionRefresh->isFlagged($customerId)) {
            return;
        }
        try {
            $groupId = (int) $this->customerRepository->getById($customerId)->getGroupId();
        } catch (NoSuchEntityException $e) {
            $this->logger->error('Segbridge session refresh: customer ' . $customerId . ' no longer exists');
            return;
        }
        if ((int) $this->session->getCustomerGroupId() !== $groupId) {
            $this->session->setCustomerGroupId($groupId);
        }
    }
}
