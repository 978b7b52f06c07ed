<?php
/**
 * Flags customers whose group changed so that their storefront session picks the new group up.
 *
 * Magento keeps "refresh this customer's session" as an entry in its customer notification
 * cache: Magento\Customer\Model\Customer\NotificationStorage::add(UPDATE_CUSTOMER_SESSION, id)
 * (module-customer/Model/Customer/NotificationStorage.php:14 and :46, 2.4.4 to 2.4.8-p1).
 * Core adds it after every customer save (Model/ResourceModel/Customer.php::_afterSave,
 * :237 in 2.4.4, :290 in 2.4.8-p1), which covers a REST PUT and the admin; the group
 * assignments route writes without a save, so it adds the entries itself through here.
 */
declare(strict_types=1);

namespace Segbridge\SegmentBlock\Model;

use Magento\Customer\Model\Customer\NotificationStorage;

class SessionRefresh
{
    /** @var NotificationStorage */
    private $notificationStorage;

    public function __construct(NotificationStorage $notificationStorage)
    {
        $this->notificationStorage = $notificationStorage;
    }

    /**
     * @param int[] $customerIds
     */
    public function flag(array $customerIds): void
    {
        foreach ($customerIds as $customerId) {
            $this->notificationStorage->add(NotificationStorage::UPDATE_CUSTOMER_SESSION, (int) $customerId);
        }
    }

    public function isFlagged(int $customerId): bool
    {
        return (bool) $this->notificationStorage->isExists(NotificationStorage::UPDATE_CUSTOMER_SESSION, $customerId);
    }
}
