<?php
// Settings of the action as a CRM robot.
if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}
/** @var \Bitrix\Bizproc\Activity\PropertiesDialog $dialog */
foreach ($dialog->getMap() as $field):
?>
<div class="bizproc-automation-popup-settings">
    <span class="bizproc-automation-popup-settings-title"><?= htmlspecialcharsbx($field['Name']) ?>:</span>
    <?= $dialog->renderFieldControl($field) ?>
    <?php if ($field['FieldName'] === 'files'): ?><div class="bizproc-automation-popup-settings-title"><?= htmlspecialcharsbx(GetMessage('C2D_SEND_FILES_HINT')) ?></div><?php endif ?>
</div>
<?php endforeach;
